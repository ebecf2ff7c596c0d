//! Generated Graph alerts: realistic multi-stage attacks for `rampart demo`, and background
//! noise shaped like real endpoint/identity/e-mail/cloud-app alerts (3–8 evidence items,
//! about 3 KB each) for the demo and the benchmarks.
use rampart_domain::timestamp::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const EV: &str = "#microsoft.graph.security.";

/// A deterministic generator anchored at `now`.
pub struct Gen {
    rng: StdRng,
    now: Timestamp,
    /// Background alerts in time order over 29 days, for this many alerts; `None` spreads
    /// them at random over the same days.
    in_order: Option<u64>,
}

fn t(ts: Timestamp) -> String {
    ts.to_rfc3339()
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

fn base(
    kind: &str,
    at: Timestamp,
    roles: &[&str],
    verdict: &str,
) -> serde_json::Map<String, Value> {
    let v = json!({
        "@odata.type": format!("{EV}{kind}"),
        "createdDateTime": t(at),
        "verdict": verdict,
        "remediationStatus": "none",
        "remediationStatusDetails": null,
        "roles": roles,
        "tags": [],
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn with(mut m: serde_json::Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

/// A host in the generated estate.
#[derive(Clone)]
pub struct Host {
    pub name: &'static str,
    pub fqdn: String,
    pub mde_id: String,
    pub ip: String,
}

/// A process in a generated tree.
pub struct Proc<'a> {
    pub pid: i64,
    pub ppid: i64,
    pub image: &'a str,
    pub path: &'a str,
    pub cmd: &'a str,
    pub parent_image: &'a str,
    pub started: Timestamp,
    pub parent_started: Timestamp,
    pub user: &'a str,
}

impl Gen {
    pub fn new(seed: u64, now: Timestamp) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            now,
            in_order: None,
        }
    }

    /// Background alert `i` of `total` ends at `i / total` of the way through the 29 days
    /// (less up to 15 minutes of delivery jitter), as a live feed sends them.
    pub fn in_order(self, total: u64) -> Gen {
        Gen {
            in_order: Some(total.max(1)),
            ..self
        }
    }

    pub fn host(&mut self, name: &'static str, ip: &str) -> Host {
        Host {
            name,
            fqdn: format!("{}.corp.contoso.com", name.to_lowercase()),
            mde_id: hex(&mut self.rng, 40),
            ip: ip.into(),
        }
    }

    fn sha256(&mut self) -> String {
        hex(&mut self.rng, 64)
    }

    pub fn device(&self, h: &Host, at: Timestamp, user: &str) -> Value {
        with(
            base("deviceEvidence", at, &["compromised"], "suspicious"),
            json!({
                "deviceDnsName": h.fqdn, "hostName": h.name, "mdeDeviceId": h.mde_id, "azureAdDeviceId": null,
                "osPlatform": "Windows11", "osBuild": 22631, "version": "23H2", "healthStatus": "active",
                "riskScore": "high", "rbacGroupId": 12, "rbacGroupName": "Workstations", "onboardingStatus": "onboarded",
                "defenderAvStatus": "updated", "ipInterfaces": [h.ip],
                "loggedOnUsers": [{"accountName": user, "domainName": "CORP"}]
            }),
        )
    }

    pub fn user(&self, account: &str, at: Timestamp, roles: &[&str]) -> Value {
        let sid_tail: u32 = account.bytes().map(u32::from).sum::<u32>() + 1000;
        with(
            base("userEvidence", at, roles, "suspicious"),
            json!({"userAccount": {
                "accountName": account, "domainName": "CORP", "userSid": format!("S-1-5-21-1004336348-1177238915-682003330-{sid_tail}"),
                "azureAdUserId": null, "userPrincipalName": format!("{account}@contoso.com"), "displayName": account
            }}),
        )
    }

    pub fn process(&mut self, h: &Host, p: &Proc<'_>, verdict: &str) -> Value {
        let sha = self.sha256();
        let psha = self.sha256();
        with(
            base("processEvidence", p.started, &[], verdict),
            json!({
                "processId": p.pid, "parentProcessId": p.ppid, "processCommandLine": p.cmd,
                "processCreationDateTime": t(p.started), "parentProcessCreationDateTime": t(p.parent_started),
                "detectionStatus": "detected", "mdeDeviceId": h.mde_id,
                "imageFile": {"sha1": null, "sha256": sha, "fileName": p.image, "filePath": p.path, "fileSize": 4_211_712,
                              "filePublisher": null, "signer": null, "issuer": null},
                "parentProcessImageFile": {"sha1": null, "sha256": psha, "fileName": p.parent_image,
                              "filePath": "C:\\Windows\\System32", "fileSize": 1_061_376, "filePublisher": "Microsoft Corporation", "signer": null, "issuer": null},
                "userAccount": {"accountName": p.user, "domainName": "CORP", "userSid": null, "azureAdUserId": null, "userPrincipalName": format!("{}@contoso.com", p.user)}
            }),
        )
    }

    pub fn file(&mut self, h: &Host, name: &str, path: &str, at: Timestamp) -> Value {
        let sha = self.sha256();
        with(
            base("fileEvidence", at, &[], "malicious"),
            json!({"detectionStatus": "detected", "mdeDeviceId": h.mde_id,
                   "fileDetails": {"sha1": hex(&mut self.rng, 40), "sha256": sha, "fileName": name, "filePath": path,
                                   "fileSize": 245_760, "filePublisher": null, "signer": null, "issuer": null}}),
        )
    }

    pub fn ip(&self, addr: &str, at: Timestamp, roles: &[&str]) -> Value {
        with(
            base("ipEvidence", at, roles, "suspicious"),
            json!({"ipAddress": addr, "countryLetterCode": "NL"}),
        )
    }

    pub fn url(&self, url: &str, at: Timestamp) -> Value {
        with(
            base("urlEvidence", at, &["attacker"], "malicious"),
            json!({"url": url}),
        )
    }

    pub fn mailbox(&self, addr: &str, at: Timestamp) -> Value {
        with(
            base("mailboxEvidence", at, &["victim"], "unknown"),
            json!({"primaryAddress": addr, "displayName": addr}),
        )
    }

    pub fn message(&mut self, to: &str, from: &str, subject: &str, at: Timestamp) -> Value {
        with(
            base("analyzedMessageEvidence", at, &[], "malicious"),
            json!({"networkMessageId": format!("{}-{}", hex(&mut self.rng, 8), hex(&mut self.rng, 12)),
                   "internetMessageId": format!("<{}@mail.example>", hex(&mut self.rng, 16)),
                   "subject": subject, "recipientEmailAddress": to, "senderIp": "198.51.100.23",
                   "p1Sender": {"emailAddress": from, "displayName": "IT Service Desk", "domainName": "it-helpdesk-contoso.com"},
                   "deliveryAction": "delivered", "deliveryLocation": "inbox"}),
        )
    }

    pub fn cloud_app(&self, name: &str, at: Timestamp) -> Value {
        with(
            base("cloudApplicationEvidence", at, &[], "suspicious"),
            json!({"appId": 20893, "displayName": name, "instanceName": name}),
        )
    }

    /// One Graph alert document.
    #[allow(clippy::too_many_arguments)]
    pub fn alert(
        &mut self,
        provider_id: String,
        source: &str,
        detection: &str,
        title: &str,
        severity: &str,
        category: &str,
        mitre: &[&str],
        first: Timestamp,
        last: Timestamp,
        description: &str,
        evidence: Vec<Value>,
    ) -> Value {
        json!({
            "providerAlertId": provider_id,
            "serviceSource": source,
            "detectionSource": detection,
            "detectorId": format!("{}-{}", hex(&mut self.rng, 8), hex(&mut self.rng, 4)),
            "title": title,
            "description": description,
            "recommendedActions": "Isolate the device if the activity is not expected, collect an investigation package, and reset the credentials of the accounts involved.",
            "category": category,
            "severity": severity,
            "status": "new",
            "classification": "unknown",
            "determination": "unknown",
            "investigationState": "pendingApproval",
            "mitreTechniques": mitre,
            "createdDateTime": t(last),
            "firstActivityDateTime": t(first),
            "lastActivityDateTime": t(last),
            "evidence": evidence,
        })
    }

    /// A background alert: plausible, varied, 3–8 evidence items.
    pub fn noise(&mut self, i: u64) -> Value {
        const TITLES: &[(&str, &str, &str, &str, &str)] = &[
            (
                "microsoftDefenderForEndpoint",
                "antivirus",
                "'Wacatac' malware was detected",
                "Malware",
                "T1204.002",
            ),
            (
                "microsoftDefenderForEndpoint",
                "microsoftDefenderForEndpoint",
                "Suspicious PowerShell command line",
                "Execution",
                "T1059.001",
            ),
            (
                "microsoftDefenderForEndpoint",
                "microsoftDefenderForEndpoint",
                "Suspicious process injection observed",
                "DefenseEvasion",
                "T1055",
            ),
            (
                "microsoftDefenderForEndpoint",
                "customDetection",
                "Rare scheduled task created by script host",
                "Persistence",
                "T1053.005",
            ),
            (
                "microsoftDefenderForIdentity",
                "microsoftDefenderForIdentity",
                "Suspected brute-force attack (LDAP)",
                "CredentialAccess",
                "T1110",
            ),
            (
                "microsoftDefenderForIdentity",
                "microsoftDefenderForIdentity",
                "Account enumeration reconnaissance",
                "Discovery",
                "T1087",
            ),
            (
                "microsoftDefenderForOffice365",
                "microsoftDefenderForOffice365",
                "Email messages containing malicious URL removed after delivery",
                "InitialAccess",
                "T1566.002",
            ),
            (
                "microsoftDefenderForOffice365",
                "microsoftDefenderForOffice365",
                "User reported a suspicious email",
                "InitialAccess",
                "T1566",
            ),
            (
                "microsoftDefenderForCloudApps",
                "microsoftDefenderForCloudApps",
                "Activity from an anonymous proxy",
                "InitialAccess",
                "T1090.003",
            ),
            (
                "microsoftDefenderForCloudApps",
                "microsoftDefenderForCloudApps",
                "Unusual file download",
                "Exfiltration",
                "T1567",
            ),
        ];
        // Background accounts and hosts never overlap the attacks' (alice, bob, svc-sql,
        // WS-17, 10.20.0.17 …), so the showcase attacks correlate into their own incidents.
        const USERS: &[&str] = &[
            "amir", "bianca", "chen", "dmitri", "elena", "farah", "goran", "hana", "igor", "jana",
            "kofi", "lena", "mateo", "nina", "omar", "priya",
        ];
        const SEV: &[&str] = &[
            "informational",
            "low",
            "low",
            "medium",
            "medium",
            "medium",
            "high",
        ];
        let (source, detection, title, category, mitre) =
            TITLES[self.rng.gen_range(0..TITLES.len())];
        let severity = SEV[self.rng.gen_range(0..SEV.len())];
        let user = USERS[self.rng.gen_range(0..USERS.len())];
        let host_no: u32 = self.rng.gen_range(1..400);
        let back = match self.in_order {
            Some(total) => {
                let step = 29 * DAY / i64::try_from(total).unwrap_or(i64::MAX);
                let ahead = i64::try_from(i.min(total))
                    .unwrap_or(0)
                    .saturating_mul(step);
                29 * DAY - ahead + self.rng.gen_range(0..15 * MINUTE)
            }
            None => self.rng.gen_range(0..29 * DAY),
        };
        let last = self.now.plus_micros(-back);
        let first = last.plus_micros(-self.rng.gen_range(0..6 * HOUR));
        let host = Host {
            name: "ws",
            fqdn: format!("ws-{host_no:03}.corp.contoso.com"),
            mde_id: hex(&mut self.rng, 40),
            ip: format!("10.30.{}.{}", host_no / 250, host_no % 250 + 1),
        };
        let mut dev = self.device(&host, first, user);
        if let Value::Object(m) = &mut dev {
            m.insert("hostName".into(), Value::String(format!("WS-{host_no:03}")));
        }
        let mut evidence = vec![dev, self.user(user, first, &["compromised"])];
        let extra = self.rng.gen_range(1..=6);
        for k in 0..extra {
            let at = first.plus_micros(i64::from(k) * MINUTE);
            let ev = match self.rng.gen_range(0..5) {
                0 => {
                    let (pid, ppid) = (
                        self.rng.gen_range(1000..60000),
                        self.rng.gen_range(500..1000),
                    );
                    self.process(&host, &Proc {
                    pid, ppid,
                    image: "powershell.exe", path: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
                    cmd: "powershell.exe -NoProfile -ExecutionPolicy Bypass -WindowStyle Hidden -File C:\\Users\\Public\\update.ps1",
                    parent_image: "cmd.exe", started: at, parent_started: at.plus_micros(-MINUTE), user,
                }, "suspicious")
                }
                1 => self.file(&host, "update.ps1", "C:\\Users\\Public", at),
                2 => {
                    let addr = format!("203.0.113.{}", self.rng.gen_range(1..255));
                    self.ip(&addr, at, &["attacker"])
                }
                3 => {
                    let u = format!(
                        "https://login-contoso-{}.example/auth?session={}",
                        self.rng.gen_range(1..50),
                        hex(&mut self.rng, 24)
                    );
                    self.url(&u, at)
                }
                _ => self.mailbox(&format!("{user}@contoso.com"), at),
            };
            evidence.push(ev);
        }
        let desc = format!(
            "{title} on WS-{host_no:03}. The activity was observed for account CORP\\{user} and matches a known technique ({mitre}). Review the process tree and related evidence to determine whether it is expected."
        );
        self.alert(
            format!("noise-{i}"),
            source,
            detection,
            title,
            severity,
            category,
            &[mitre],
            first,
            last,
            &desc,
            evidence,
        )
    }
}

/// Multi-stage attacks for the demo: a phishing-to-domain-compromise chain across e-mail,
/// endpoint, identity and cloud apps; and a ransomware outbreak on a file server.
pub fn attacks(g: &mut Gen) -> Vec<Value> {
    let now = g.now;
    let t0 = now.plus_micros(-2 * DAY);
    let at = |m: i64| t0.plus_micros(m * MINUTE);
    let ws = g.host("WS-17", "10.20.0.17");
    let srv = g.host("SRV-DB01", "10.10.5.21");
    let fs = g.host("FS-02", "10.10.5.40");
    let mut out = Vec::new();

    // Stage 1: phishing e-mail delivered to alice.
    let msg = g.message(
        "alice@contoso.com",
        "servicedesk@it-helpdesk-contoso.com",
        "Action required: password expires today",
        at(0),
    );
    let url = g.url("https://it-helpdesk-contoso.com/reset?u=alice", at(0));
    let mb = g.mailbox("alice@contoso.com", at(0));
    let u = g.user("alice", at(0), &["victim"]);
    out.push(g.alert("attack1-mail".into(), "microsoftDefenderForOffice365", "microsoftDefenderForOffice365",
        "Email messages containing malicious URL removed after delivery", "medium", "InitialAccess", &["T1566.002"],
        at(0), at(3), "A message with a credential-phishing URL was delivered to alice@contoso.com and removed after delivery by zero-hour auto purge. The user clicked the link before removal.",
        vec![msg, url, mb, u]));

    // Stage 2: macro document spawns PowerShell on WS-17 (process tree with several levels).
    let tree = [
        Proc { pid: 4120, ppid: 3880, image: "outlook.exe", path: "C:\\Program Files\\Microsoft Office\\root\\Office16", cmd: "\"OUTLOOK.EXE\" /recycle", parent_image: "explorer.exe", started: at(5), parent_started: at(-600), user: "alice" },
        Proc { pid: 6312, ppid: 4120, image: "winword.exe", path: "C:\\Program Files\\Microsoft Office\\root\\Office16", cmd: "\"WINWORD.EXE\" /n \"C:\\Users\\alice\\Downloads\\Invoice_7731.docm\" /o \"\"", parent_image: "outlook.exe", started: at(12), parent_started: at(5), user: "alice" },
        Proc { pid: 7420, ppid: 6312, image: "powershell.exe", path: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0", cmd: "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA", parent_image: "winword.exe", started: at(13), parent_started: at(12), user: "alice" },
        Proc { pid: 7788, ppid: 7420, image: "rundll32.exe", path: "C:\\Windows\\System32", cmd: "rundll32.exe C:\\Users\\alice\\AppData\\Local\\Temp\\svc64.dll,Start", parent_image: "powershell.exe", started: at(14), parent_started: at(13), user: "alice" },
    ];
    let mut ev = vec![
        g.device(&ws, at(12), "alice"),
        g.user("alice", at(12), &["compromised"]),
    ];
    for p in &tree {
        ev.push(g.process(&ws, p, "suspicious"));
    }
    ev.push(g.file(
        &ws,
        "svc64.dll",
        "C:\\Users\\alice\\AppData\\Local\\Temp",
        at(14),
    ));
    ev.push(g.ip("185.220.101.45", at(14), &["attacker", "destination"]));
    out.push(g.alert("attack1-macro".into(), "microsoftDefenderForEndpoint", "microsoftDefenderForEndpoint",
        "Suspicious PowerShell launched by an Office document", "high", "Execution", &["T1059.001", "T1204.002"],
        at(12), at(14), "WINWORD.EXE opened a macro-enabled invoice and started an encoded PowerShell command, which downloaded and ran svc64.dll through rundll32 and connected to 185.220.101.45.",
        ev));

    // Stage 3: credential theft from LSASS on the same tree.
    let mimi = Proc {
        pid: 8120,
        ppid: 7788,
        image: "mimikatz.exe",
        path: "C:\\Users\\alice\\AppData\\Local\\Temp",
        cmd: "mimikatz.exe \"privilege::debug\" \"sekurlsa::logonpasswords\" exit",
        parent_image: "rundll32.exe",
        started: at(31),
        parent_started: at(14),
        user: "alice",
    };
    let ev = vec![
        g.device(&ws, at(31), "alice"),
        g.user("alice", at(31), &["compromised"]),
        g.process(&ws, &tree[3], "suspicious"),
        g.process(&ws, &mimi, "malicious"),
        g.file(
            &ws,
            "mimikatz.exe",
            "C:\\Users\\alice\\AppData\\Local\\Temp",
            at(31),
        ),
    ];
    out.push(g.alert("attack1-lsass".into(), "microsoftDefenderForEndpoint", "antivirus",
        "'Mimikatz' credential theft tool detected", "high", "CredentialAccess", &["T1003.001"],
        at(31), at(33), "A credential theft tool read the memory of lsass.exe on WS-17. Credentials of every account signed in to the device may be compromised.", ev));

    // Stage 4: lateral movement with stolen credentials (identity).
    let ev = vec![
        g.user("alice", at(52), &["attacker"]),
        g.user("svc-sql", at(52), &["victim"]),
        g.device(&ws, at(52), "alice"),
        g.device(&srv, at(52), "svc-sql"),
        g.ip("10.20.0.17", at(52), &["source"]),
    ];
    out.push(g.alert(
        "attack1-pth".into(),
        "microsoftDefenderForIdentity",
        "microsoftDefenderForIdentity",
        "Suspected identity theft (pass-the-hash)",
        "high",
        "LateralMovement",
        &["T1550.002"],
        at(52),
        at(58),
        "CORP\\alice's device WS-17 used the NTLM hash of svc-sql to access SRV-DB01.",
        ev,
    ));

    // Stage 5: mass download from SharePoint by alice from an anonymous proxy.
    let ev = vec![
        g.user("alice", at(95), &["compromised"]),
        g.cloud_app("Microsoft SharePoint Online", at(95)),
        g.ip("185.220.101.45", at(95), &["attacker"]),
    ];
    out.push(g.alert("attack1-exfil".into(), "microsoftDefenderForCloudApps", "microsoftDefenderForCloudApps",
        "Mass download by a single user", "medium", "Exfiltration", &["T1530"],
        at(95), at(130), "alice@contoso.com downloaded 1,284 files from SharePoint in 35 minutes from an anonymous proxy address.", ev));

    // Ransomware on FS-02, a day later.
    let t1 = now.plus_micros(-20 * HOUR);
    let r = |m: i64| t1.plus_micros(m * MINUTE);
    let rtree = [
        Proc {
            pid: 2204,
            ppid: 1880,
            image: "invoice_0423.exe",
            path: "C:\\Users\\bob\\Downloads",
            cmd: "\"C:\\Users\\bob\\Downloads\\invoice_0423.exe\"",
            parent_image: "explorer.exe",
            started: r(0),
            parent_started: r(-300),
            user: "bob",
        },
        Proc {
            pid: 3310,
            ppid: 2204,
            image: "cmd.exe",
            path: "C:\\Windows\\System32",
            cmd: "cmd.exe /c vssadmin delete shadows /all /quiet & wbadmin delete catalog -quiet",
            parent_image: "invoice_0423.exe",
            started: r(2),
            parent_started: r(0),
            user: "bob",
        },
        Proc {
            pid: 3342,
            ppid: 3310,
            image: "vssadmin.exe",
            path: "C:\\Windows\\System32",
            cmd: "vssadmin delete shadows /all /quiet",
            parent_image: "cmd.exe",
            started: r(2),
            parent_started: r(2),
            user: "bob",
        },
    ];
    let mut ev = vec![
        g.device(&fs, r(0), "bob"),
        g.user("bob", r(0), &["compromised"]),
    ];
    for p in &rtree {
        ev.push(g.process(&fs, p, "malicious"));
    }
    ev.push(g.file(&fs, "invoice_0423.exe", "C:\\Users\\bob\\Downloads", r(0)));
    ev.push(g.file(&fs, "README-RESTORE.txt", "D:\\Shares\\Finance", r(9)));
    out.push(g.alert("attack2-ransom".into(), "microsoftDefenderForEndpoint", "microsoftDefenderForEndpoint",
        "Ransomware behavior detected in the file system", "high", "Impact", &["T1486", "T1490"],
        r(0), r(12), "invoice_0423.exe deleted volume shadow copies and began encrypting files on D:\\Shares\\Finance, leaving README-RESTORE.txt ransom notes.", ev));
    let ev = vec![
        g.device(&fs, r(2), "bob"),
        g.user("bob", r(2), &["compromised"]),
        g.process(&fs, &rtree[1], "malicious"),
        g.process(&fs, &rtree[2], "malicious"),
    ];
    out.push(g.alert("attack2-shadow".into(), "microsoftDefenderForEndpoint", "microsoftDefenderForEndpoint",
        "File backups were deleted", "high", "Impact", &["T1490"],
        r(2), r(3), "Volume shadow copies and the backup catalog were deleted on FS-02, a common step before ransomware encryption.", ev));
    out
}
