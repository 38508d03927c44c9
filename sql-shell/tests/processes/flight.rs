//! The Flight SQL server as a real process on 127.0.0.1, driven by arrow-flight's Flight SQL
//! client: queries, prepared statements with `?` and `$1`, executemany, updates, metadata,
//! tokens, per-tenant isolation, clients that disconnect, and a clean SIGTERM shutdown.

use std::sync::Arc;

use crate::common::{client, fetch, start, strings};
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_prepared_statements_updates_and_metadata() {
    let server = start("secret\n");
    let mut c = client(&server, None).await;
    c.handshake("anyone", "secret").await.unwrap();

    assert_eq!(
        c.execute_update(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT)".into(),
            None
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        c.execute_update(
            "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')".into(),
            None
        )
        .await
        .unwrap(),
        3
    );

    let info = c
        .execute("SELECT name FROM t WHERE id >= 2 ORDER BY id".into(), None)
        .await
        .unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await, 0), vec!["b", "c"]);

    // A `?` parameter.
    let mut ps = c
        .prepare("SELECT name FROM t WHERE id = ?".into(), None)
        .await
        .unwrap();
    let params = Arc::new(Schema::new(vec![Field::new("$1", DataType::Int64, true)]));
    ps.set_parameters(
        RecordBatch::try_new(params.clone(), vec![Arc::new(Int64Array::from(vec![3]))]).unwrap(),
    )
    .unwrap();
    let info = ps.execute().await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await, 0), vec!["c"]);

    // `$1`, run once per parameter set (executemany).
    let mut ins = c
        .prepare("INSERT INTO t VALUES ($1, 'many')".into(), None)
        .await
        .unwrap();
    ins.set_parameters(
        RecordBatch::try_new(
            params.clone(),
            vec![Arc::new(Int64Array::from(vec![10, 11, 12]))],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(ins.execute_update().await.unwrap(), 3);
    let info = c
        .execute(
            "SELECT count(*) AS n FROM t WHERE name = 'many'".into(),
            None,
        )
        .await
        .unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(
        batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        3
    );

    // A parameterised update with no parameters bound fails loudly.
    let mut unbound = c
        .prepare("DELETE FROM t WHERE id = ?".into(), None)
        .await
        .unwrap();
    let err = unbound.execute_update().await.unwrap_err();
    assert!(err.to_string().contains("none were bound"), "{err}");

    // Errors name the problem.
    let err = c
        .execute_update("INSERT INTO t VALUES (1, 'dup')".into(), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("duplicate primary key 1 in table 't'"),
        "{err}"
    );

    // Metadata.
    let info = c.get_catalogs().await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await, 0), vec!["quiver"]);
    let info = c
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    assert!(strings(&fetch(&mut c, info).await, 1).contains(&"public".to_string()));
    let info = c
        .get_tables(CommandGetTables {
            include_schema: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let tables = strings(&fetch(&mut c, info).await, 2);
    assert!(
        tables.contains(&"t".to_string()) && tables.contains(&"jobs".to_string()),
        "{tables:?}"
    );

    // A view is listed with table type VIEW, and only views when the client asks for them.
    c.execute_update("CREATE VIEW t_names AS SELECT name FROM t".into(), None)
        .await
        .unwrap();
    let info = c
        .get_tables(CommandGetTables {
            table_types: vec!["VIEW".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let batch = fetch(&mut c, info).await;
    assert_eq!(strings(&batch, 2), vec!["t_names"]);
    assert_eq!(strings(&batch, 3), vec!["VIEW"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_and_namespaces_isolate() {
    let server = start("admin\ntenant-a-token tenant_a\n");
    let mut none = client(&server, None).await;
    let err = none.execute("SELECT 1".into(), None).await.unwrap_err();
    assert!(
        err.to_string().contains("Unauthenticated") || err.to_string().contains("authorization"),
        "{err}"
    );
    let mut bad = client(&server, Some("wrong")).await;
    let err = bad.execute("SELECT 1".into(), None).await.unwrap_err();
    assert!(err.to_string().contains("invalid token"), "{err}");
    let mut hs = client(&server, None).await;
    assert!(hs.handshake("x", "wrong").await.is_err());

    let mut admin = client(&server, Some("admin")).await;
    admin
        .execute_update(
            "CREATE TABLE tenant_a.notes (id BIGINT PRIMARY KEY, body TEXT)".into(),
            None,
        )
        .await
        .unwrap();
    admin
        .execute_update("CREATE TABLE secrets (id BIGINT PRIMARY KEY)".into(), None)
        .await
        .unwrap();

    let mut tenant = client(&server, Some("tenant-a-token")).await;
    assert_eq!(
        tenant
            .execute_update("INSERT INTO notes VALUES (1, 'hi')".into(), None)
            .await
            .unwrap(),
        1
    );
    let err = tenant
        .execute("SELECT * FROM public.secrets".into(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    // Nor drop or create outside its namespace.
    let err = tenant
        .execute_update("DROP TABLE public.secrets".into(), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("outside namespace 'tenant_a'"),
        "{err}"
    );
    let err = tenant
        .execute_update(
            "CREATE TABLE public.mine (id BIGINT PRIMARY KEY)".into(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("outside namespace 'tenant_a'"),
        "{err}"
    );
    let info = tenant
        .get_tables(CommandGetTables::default())
        .await
        .unwrap();
    let tables = strings(&fetch(&mut tenant, info).await, 2);
    assert_eq!(tables, vec!["notes"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_does_not_disturb_others_and_sigterm_is_clean() {
    let mut server = start("t\n");
    let mut c = client(&server, Some("t")).await;
    c.execute_update(
        "CREATE TABLE big (id BIGINT PRIMARY KEY, pad TEXT)".into(),
        None,
    )
    .await
    .unwrap();
    let values: Vec<String> = (0..20_000)
        .map(|i| format!("({i}, 'padding-padding-padding-{i}')"))
        .collect();
    c.execute_update(format!("INSERT INTO big VALUES {}", values.join(",")), None)
        .await
        .unwrap();

    // Read one batch of a large result, then drop the stream.
    let info = c.execute("SELECT * FROM big".into(), None).await.unwrap();
    let mut stream = c
        .do_get(info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap();
    let first = stream.try_next().await.unwrap();
    assert!(first.is_some());
    drop(stream);

    let mut other = client(&server, Some("t")).await;
    let info = other
        .execute("SELECT count(*) FROM big".into(), None)
        .await
        .unwrap();
    let batches = fetch(&mut other, info).await;
    assert_eq!(
        batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        20_000
    );

    // SIGTERM: the server finishes and exits 0.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
