//! The permissions roles are composed of.
//!
//! Permissions are deliberately coarse (one per screen or API family) so a custom role reads
//! like a sentence and the HTTP authorization matrix stays a small table.

crate::vocab::vocab_enum!(
    /// One thing a principal may do. The wire spelling (`alerts.read`) is what custom-role and
    /// token definitions store, so renaming a variant never changes stored data.
    Permission {
        AlertsRead = "alerts.read",
        AlertsManage = "alerts.manage",
        AlertsIngest = "alerts.ingest",
        IncidentsRead = "incidents.read",
        IncidentsManage = "incidents.manage",
        EmailRead = "email.read",
        RulesManage = "rules.manage",
        UsersManage = "users.manage",
        RolesManage = "roles.manage",
        TokensManage = "tokens.manage",
        Export = "export",
        SettingsManage = "settings.manage",
        AuditRead = "audit.read",
    }
);

impl Permission {
    /// Permissions that come with this one. Managing something you cannot see is useless and
    /// would leave a manager with an empty queue, so `*.manage` brings its `*.read`.
    pub const fn implies(self) -> &'static [Permission] {
        match self {
            Permission::AlertsManage => &[Permission::AlertsRead],
            Permission::IncidentsManage => &[Permission::IncidentsRead],
            _ => &[],
        }
    }

    /// Whether the permission acts on alert-like objects that carry a service source, and can
    /// therefore be limited to some sources. The others (users, roles, tokens, settings,
    /// rules, the audit log) are tenant-wide: granting them "for endpoint only" would be a
    /// promise the system cannot keep, so source-limited roles never grant them.
    pub const fn is_source_scoped(self) -> bool {
        matches!(
            self,
            Permission::AlertsRead
                | Permission::AlertsManage
                | Permission::AlertsIngest
                | Permission::IncidentsRead
                | Permission::IncidentsManage
                | Permission::EmailRead
                | Permission::Export
        )
    }

    /// Whether the permission lets its holder change stored state. Reader roles must hold
    /// none of these; tests pin that.
    pub const fn changes_state(self) -> bool {
        matches!(
            self,
            Permission::AlertsManage
                | Permission::AlertsIngest
                | Permission::IncidentsManage
                | Permission::RulesManage
                | Permission::UsersManage
                | Permission::RolesManage
                | Permission::TokensManage
                | Permission::SettingsManage
        )
    }

    /// Whether acting with this permission on an e-mail alert also needs `email.read`.
    /// Ingesting does not: a mail gateway must be able to deliver alerts it may not read back.
    pub(crate) const fn gated_by_email_read(self) -> bool {
        self.is_source_scoped() && !matches!(self, Permission::EmailRead | Permission::AlertsIngest)
    }

    /// Human label for the custom-role editor.
    pub const fn label(self) -> &'static str {
        match self {
            Permission::AlertsRead => "Read alerts",
            Permission::AlertsManage => "Manage alerts",
            Permission::AlertsIngest => "Ingest alerts",
            Permission::IncidentsRead => "Read incidents",
            Permission::IncidentsManage => "Manage incidents",
            Permission::EmailRead => "Read e-mail alerts and message data",
            Permission::RulesManage => "Manage suppression and automation rules",
            Permission::UsersManage => "Manage users",
            Permission::RolesManage => "Manage roles",
            Permission::TokensManage => "Manage API tokens",
            Permission::Export => "Export",
            Permission::SettingsManage => "Manage settings",
            Permission::AuditRead => "Read the audit log",
        }
    }
}
