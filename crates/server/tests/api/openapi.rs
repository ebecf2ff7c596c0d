use crate::support::*;

#[tokio::test]
async fn every_route_is_documented() {
    let app = TestApp::new().await;
    let (s, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().unwrap();
    let src = include_str!("../../src/api/mod.rs");
    // Whitespace-free so rustfmt's line breaks do not matter.
    let flat: String = src.chars().filter(|c| !c.is_whitespace()).collect();
    let mut routes = 0;
    for line in flat.split(".route(\"").skip(1) {
        let path = line.split('"').next().unwrap();
        let full = format!("/api/v1{path}");
        routes += 1;
        let item = paths
            .get(&full)
            .unwrap_or_else(|| panic!("{full} is routed but not in the OpenAPI document"));
        for method in ["get", "post", "patch", "delete", "put"] {
            if line.contains(&format!("{method}(")) {
                assert!(
                    item.get(method).is_some(),
                    "{method} {full} is not documented"
                );
            }
        }
    }
    assert!(routes >= 6);
    for p in paths.keys() {
        assert!(
            flat.contains(&format!("\"{}\"", p.trim_start_matches("/api/v1"))),
            "{p} documented but not routed"
        );
    }
}

/// Error bodies are declared with the content type they are sent with, and query
/// parameters are declared in the query.
#[tokio::test]
async fn errors_are_problem_json_and_parameters_sit_where_they_are_sent() {
    let app = TestApp::new().await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, r) in op["responses"].as_object().into_iter().flatten() {
                let Some(content) = r["content"].as_object() else {
                    continue;
                };
                if status.starts_with('4') || status.starts_with('5') {
                    errors += 1;
                    assert!(
                        content.contains_key("application/problem+json")
                            && !content.contains_key("application/json"),
                        "{method} {path} {status}: {content:?}"
                    );
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {p}"
                    );
                }
            }
        }
    }
    assert!(errors > 20, "{errors} error responses with a body");
}

#[tokio::test]
async fn versioned_changes_declare_if_match_and_etag() {
    let app = TestApp::new().await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    for path in ["/api/v1/alerts/{id}", "/api/v1/incidents/{id}"] {
        let op = &doc["paths"][path]["patch"];
        let params = op["parameters"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "If-Match" && p["in"] == "header"),
            "{path}: {params:?}"
        );
        assert!(
            op["responses"]["200"]["headers"]["ETag"].is_object(),
            "{path}: {}",
            op["responses"]["200"]
        );
    }
}
