//! The document service called directly, as a writer that is not an HTTP
//! request (a background task, the replicator) calls it: the same rules as
//! a `PUT` or `_bulk_docs`, with no HTTP in between.

use std::sync::Arc;

use serde_json::json;

use settee::auth::UserCtx;
use settee::couch::doc::{parse_doc, NewDoc};
use settee::error::Error;
use settee::service::{Service, WriteOptions};
use settee::storage::{Database, Store};

fn service() -> (Service, Arc<Store>) {
    let config = settee::config::Config::ephemeral();
    let settings = Arc::new(settee::settings::Runtime::start(&config).unwrap());
    let store = Store::open(std::path::Path::new("unused"), true, 4).unwrap();
    (Service::new(Arc::clone(&store), settings), store)
}

fn doc(v: serde_json::Value) -> NewDoc {
    parse_doc(v).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn member() -> UserCtx {
    UserCtx {
        name: Some("bob".into()),
        roles: Vec::new(),
    }
}

fn admin() -> UserCtx {
    UserCtx {
        name: Some("admin".into()),
        roles: vec!["_admin".into()],
    }
}

fn new_db(store: &Store, name: &str) -> Arc<Database> {
    store.create_db(name, false).unwrap()
}

/// Ids, sizes and replicated revisions are checked as a request's are.
#[test]
fn prepare_checks_what_couchdb_checks() {
    let (svc, store) = service();
    let db = new_db(&store, "prep");
    let err = |r: Result<_, Error>| r.err().map(|e| e.status_and_name().1);
    assert_eq!(
        err(svc.prepare(&db, doc(json!({"_id": "_bad"})), false)),
        Some("illegal_docid")
    );
    assert_eq!(
        err(svc.prepare(&db, doc(json!({"_id": "a"})), true)),
        Some("bad_request")
    );
    let big = json!({"_id": "big", "x": "y".repeat(8_000_000)});
    assert_eq!(
        err(svc.prepare(&db, doc(big), false)),
        Some("document_too_large")
    );
    // an id-less document gets a uuid
    let p = svc.prepare(&db, doc(json!({"v": 1})), false).unwrap();
    assert_eq!(p.id().len(), 32);
    let parted = store.create_db("parted", true).unwrap();
    assert_eq!(
        err(svc.prepare(&parted, doc(json!({"v": 1})), false)),
        Some("illegal_docid")
    );
}

/// One write path for every writer: conflicts per document, design
/// documents for database admins only, `_local` documents in order.
#[test]
fn save_applies_every_rule() {
    let rt = runtime();
    let (svc, store) = service();
    let db = new_db(&store, "rules");
    rt.block_on(async {
        let docs = vec![
            svc.prepare(&db, doc(json!({"_id": "a", "v": 1})), false)
                .unwrap(),
            svc.prepare(&db, doc(json!({"_id": "_local/ck", "seq": 1})), false)
                .unwrap(),
            svc.prepare(&db, doc(json!({"_id": "_design/d", "views": {}})), false)
                .unwrap(),
        ];
        let out = svc
            .save(&member(), &db, docs, WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(out.len(), 3);
        let first = out[0].as_ref().unwrap().rev.clone();
        assert_eq!(first.pos, 1);
        assert_eq!(out[1].as_ref().unwrap().rev.to_string(), "0-1");
        // not a database admin: the design document is refused, alone
        assert_eq!(
            out[2].as_ref().err().map(|e| e.status_and_name().1),
            Some("forbidden")
        );
        // a stale revision is that document's conflict
        let stale = doc(json!({"_id": "a", "_rev": "1-0123456789abcdef0123456789abcdef"}));
        let r = svc
            .save_one(&member(), &db, stale, WriteOptions::default())
            .await;
        assert!(matches!(r, Err(Error::Conflict)));
        // an admin may write the design document, which must be well formed
        let bad = doc(json!({"_id": "_design/d", "views": {"v": {"map": 5}}}));
        let r = svc
            .save_one(&admin(), &db, bad, WriteOptions::default())
            .await;
        assert_eq!(
            r.err().map(|e| e.to_string()),
            Some("`views.v.map` field must have string type".to_string())
        );
        let good = doc(json!({"_id": "_design/d", "views": {}}));
        let r = svc
            .save_one(&admin(), &db, good, WriteOptions::default())
            .await;
        assert!(r.is_ok(), "{r:?}");
        // replicated writes keep the revisions they are given
        let replicated =
            doc(json!({"_id": "r", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}}));
        let opts = WriteOptions {
            replicated: true,
            ..Default::default()
        };
        let r = svc
            .save_one(&member(), &db, replicated, opts)
            .await
            .unwrap();
        assert_eq!(r.rev.to_string(), "2-b");
    });
    assert_eq!(db.info().doc_count, 3);
}
