//! The Flight SQL server against the habits and the attacks of real clients: writes sent as
//! queries and never fetched (DB-API's `execute`), one token using another's prepared
//! statements and results, tenants probing other namespaces through every call, status codes
//! that follow the error's type, and per-query limits that fail the query, not the server.

use std::sync::Arc;

use crate::common::{client, code, fetch, first_int, query, start, start_with, strings, try_fetch};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetDbSchemas, CommandGetTables,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, ProstMessageExt,
};
use arrow_flight::{Action, FlightData, FlightDescriptor, Ticket};
use bytes::Bytes;
use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use prost::Message;
use tonic::Code;

type Client = arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>;

/// Creates a prepared statement and returns its raw handle.
async fn prepare_raw(c: &mut Client, sql: &str) -> Bytes {
    let action = Action {
        r#type: "CreatePreparedStatement".into(),
        body: ActionCreatePreparedStatementRequest {
            query: sql.into(),
            transaction_id: None,
        }
        .as_any()
        .encode_to_vec()
        .into(),
    };
    let mut results = c.do_action(action).await.unwrap();
    let result = results.try_next().await.unwrap().unwrap();
    let any = Any::decode(&*result.body).unwrap();
    let created: ActionCreatePreparedStatementResult = any.unpack().unwrap().unwrap();
    created.prepared_statement_handle
}

/// ExecuteUpdate of a prepared statement named by its raw handle.
async fn update_by_handle(
    c: &mut Client,
    handle: &Bytes,
) -> Result<(), arrow_flight::error::FlightError> {
    let cmd = CommandPreparedStatementUpdate {
        prepared_statement_handle: handle.clone(),
    };
    let data = FlightData {
        flight_descriptor: Some(FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec())),
        ..Default::default()
    };
    let mut results = c.do_put(futures::stream::iter(vec![data])).await?;
    results.try_next().await?;
    Ok(())
}

fn int_params(values: Vec<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("$1", DataType::Int64, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
}

async fn count(c: &mut Client, sql: &str) -> i64 {
    first_int(&query(c, sql).await)
}

/// DB-API clients run DML with `execute` (GetFlightInfo) and never read the result. The
/// write must happen then, and its failure must fail that call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_run_when_their_flight_info_is_asked_for() {
    let server = start("t\n");
    let mut c = client(&server, Some("t")).await;
    c.execute(
        "CREATE TABLE w (id BIGINT PRIMARY KEY, v TEXT)".into(),
        None,
    )
    .await
    .unwrap();
    for i in 0..20 {
        // The FlightInfo is asked for and dropped: no DoGet.
        c.execute(format!("INSERT INTO w VALUES ({i}, 'x')"), None)
            .await
            .unwrap();
    }
    assert_eq!(count(&mut c, "SELECT count(*) FROM w").await, 20);

    let err = c
        .execute("INSERT INTO w VALUES (3, 'dup')".into(), None)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Code::AlreadyExists, "{err}");
    assert!(err.to_string().contains("duplicate primary key 3"), "{err}");

    c.execute("UPDATE w SET v = 'y' WHERE id < 5".into(), None)
        .await
        .unwrap();
    c.execute("DELETE FROM w WHERE id >= 15".into(), None)
        .await
        .unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM w WHERE v = 'y'").await,
        5
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM w").await, 15);

    // Reading the ticket of a write gives its row count, once.
    let info = c
        .execute("UPDATE w SET v = 'z' WHERE id < 3".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches: Vec<RecordBatch> = c
        .do_get(ticket.clone())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first_int(&batches), 3);
    let again = c.do_get(ticket).await.expect_err("a ticket is read once");
    assert_eq!(code(&again), Code::NotFound);

    // A prepared INSERT executed as a query (GetFlightInfo) without fetching, two sets.
    let mut ps = c
        .prepare("INSERT INTO w VALUES ($1, 'p')".into(), None)
        .await
        .unwrap();
    ps.set_parameters(int_params(vec![100, 101])).unwrap();
    ps.execute().await.unwrap();
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM w WHERE v = 'p'").await,
        2
    );
    ps.set_parameters(int_params(vec![101])).unwrap();
    let err = ps.execute().await.unwrap_err();
    assert_eq!(code(&err), Code::AlreadyExists, "{err}");
}

/// Reproduces the hole: an all-access token prepared a DELETE, a tenant token executed its
/// handle, and the row was gone. Handles are now random and bound to their token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_belong_to_the_token_that_made_them() {
    let server = start("admin\ntenant-token tenant_a\nother-admin\n");
    let mut admin = client(&server, Some("admin")).await;
    admin
        .execute_update("CREATE TABLE secret (id BIGINT PRIMARY KEY)".into(), None)
        .await
        .unwrap();
    admin
        .execute_update("INSERT INTO secret VALUES (1), (2)".into(), None)
        .await
        .unwrap();
    let handle = prepare_raw(&mut admin, "DELETE FROM secret WHERE id = 1").await;
    assert_eq!(handle.len(), 32, "128 random bits in hex: {handle:?}");
    assert_ne!(
        handle,
        prepare_raw(&mut admin, "DELETE FROM secret WHERE id = 1").await
    );

    for token in ["tenant-token", "other-admin"] {
        let mut thief = client(&server, Some(token)).await;
        let err = update_by_handle(&mut thief, &handle).await.unwrap_err();
        assert_eq!(code(&err), Code::NotFound, "{token}: {err}");
        let ticket = Ticket::new(
            CommandPreparedStatementQuery {
                prepared_statement_handle: handle.clone(),
            }
            .as_any()
            .encode_to_vec(),
        );
        let err = thief.do_get(ticket).await.unwrap_err();
        assert_eq!(code(&err), Code::NotFound, "{token}: {err}");
        // Closing someone else's handle answers like closing a closed one, and does nothing.
        let close = Action {
            r#type: "ClosePreparedStatement".into(),
            body: ActionClosePreparedStatementRequest {
                prepared_statement_handle: handle.clone(),
            }
            .as_any()
            .encode_to_vec()
            .into(),
        };
        thief.do_action(close).await.unwrap();
    }
    assert_eq!(count(&mut admin, "SELECT count(*) FROM secret").await, 2);

    // A query's result ticket is the caller's too.
    let info = admin
        .execute("SELECT id FROM secret ORDER BY id".into(), None)
        .await
        .unwrap();
    let mut thief = client(&server, Some("other-admin")).await;
    let err = thief
        .do_get(info.endpoint[0].ticket.clone().unwrap())
        .await
        .unwrap_err();
    assert_eq!(code(&err), Code::NotFound);
    assert_eq!(fetch(&mut admin, info).await[0].num_rows(), 2);

    // The owner still runs its statement.
    update_by_handle(&mut admin, &handle).await.unwrap();
    assert_eq!(count(&mut admin, "SELECT count(*) FROM secret").await, 1);
}

/// A tenant token sees, counts and writes only its namespace, whichever call it makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_sees_only_its_namespace_through_every_call() {
    let server = start("admin\ntenant-token tenant_a\n");
    let mut admin = client(&server, Some("admin")).await;
    for sql in [
        "CREATE TABLE tenant_a.notes (id BIGINT PRIMARY KEY, body TEXT)",
        "CREATE TABLE tenant_b.notes (id BIGINT PRIMARY KEY, body TEXT)",
        "CREATE INDEX b_body ON tenant_b.notes (body)",
        "INSERT INTO tenant_b.notes VALUES (1, 'b-secret')",
        "CREATE TABLE secret (id BIGINT PRIMARY KEY)",
    ] {
        admin.execute_update(sql.into(), None).await.unwrap();
    }
    let mut tenant = client(&server, Some("tenant-token")).await;
    tenant
        .execute_update("INSERT INTO notes VALUES (1, 'mine')".into(), None)
        .await
        .unwrap();

    // Statements, prepared statements and updates naming other schemas: not found.
    for sql in [
        "SELECT * FROM tenant_b.notes",
        "SELECT count(*) FROM tenant_b.notes",
        "SELECT * FROM public.secret",
        "SELECT * FROM secret",
        "SELECT * FROM jobs",
        "SELECT * FROM public.jobs",
        "SELECT * FROM sys.indexes",
        "SELECT * FROM notes n JOIN tenant_b.notes o ON n.id = o.id",
        "SELECT * FROM notes WHERE id IN (SELECT id FROM tenant_b.notes)",
        "SELECT (SELECT count(*) FROM public.secret)",
        "SELECT * FROM quiver.tenant_b.notes",
    ] {
        let err = tenant.execute(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::NotFound, "{sql}: {err}");
        let err = tenant.prepare(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::NotFound, "{sql}: {err}");
    }
    for sql in [
        "INSERT INTO tenant_b.notes VALUES (2, 'x')",
        "UPDATE tenant_b.notes SET body = 'x'",
        "DELETE FROM tenant_b.notes",
        "INSERT INTO notes SELECT * FROM tenant_b.notes",
    ] {
        let err = tenant.execute_update(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::NotFound, "{sql}: {err}");
    }
    for sql in [
        "DROP TABLE tenant_b.notes",
        "CREATE TABLE tenant_b.more (id BIGINT PRIMARY KEY)",
        "CREATE INDEX mine ON tenant_b.notes (body)",
    ] {
        let err = tenant.execute_update(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::PermissionDenied, "{sql}: {err}");
    }
    // Another namespace's index answers like one that does not exist.
    for sql in ["DROP INDEX b_body", "DROP INDEX no_such_index"] {
        let err = tenant.execute_update(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::NotFound, "{sql}: {err}");
    }
    // Statements that would change the shared session or touch the server's files.
    for sql in [
        "SET datafusion.catalog.default_schema = 'tenant_b'",
        "CREATE EXTERNAL TABLE f STORED AS CSV LOCATION '/etc/passwd'",
    ] {
        let err = tenant.execute(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::InvalidArgument, "{sql}: {err}");
    }
    // Files: a server started without --files lets no session read or write any.
    for sql in [
        "SELECT * FROM '/etc/hostname.csv'",
        "COPY tenant_a.notes FROM '/etc/passwd.csv'",
        "COPY (SELECT 1) TO '/tmp/quiver-flight-leak.csv'",
    ] {
        let err = tenant.execute(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::PermissionDenied, "{sql}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/quiver-flight-leak.csv").exists());

    // information_schema lists its own tables only.
    let tables = strings(
        &query(
            &mut tenant,
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_catalog = 'quiver' AND table_schema <> 'information_schema' ORDER BY 1",
        )
        .await,
        0,
    );
    assert_eq!(tables, vec!["tenant_a.notes"]);
    assert_eq!(
        count(&mut tenant, "SELECT count(*) FROM information_schema.columns WHERE table_schema NOT IN ('tenant_a', 'information_schema') AND table_catalog = 'quiver'").await,
        0
    );

    // Metadata calls.
    let info = tenant.get_catalogs().await.unwrap();
    assert_eq!(strings(&fetch(&mut tenant, info).await, 0), vec!["quiver"]);
    let info = tenant
        .get_db_schemas(CommandGetDbSchemas::default())
        .await
        .unwrap();
    assert_eq!(
        strings(&fetch(&mut tenant, info).await, 1),
        vec!["tenant_a"]
    );
    for include_schema in [false, true] {
        let info = tenant
            .get_tables(CommandGetTables {
                include_schema,
                ..Default::default()
            })
            .await
            .unwrap();
        let batches = fetch(&mut tenant, info).await;
        assert_eq!(strings(&batches, 1), vec!["tenant_a"]);
        assert_eq!(strings(&batches, 2), vec!["notes"]);
    }
    let info = tenant
        .get_tables(CommandGetTables {
            db_schema_filter_pattern: Some("tenant_b".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(fetch(&mut tenant, info)
        .await
        .iter()
        .all(|b| b.num_rows() == 0));

    // Nothing of tenant_b changed.
    assert_eq!(
        strings(
            &query(&mut admin, "SELECT body FROM tenant_b.notes").await,
            0
        ),
        vec!["b-secret"]
    );
}

/// Status codes come from the error's type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_follow_the_error() {
    let server = start("t\n");
    let mut c = client(&server, Some("t")).await;
    c.execute_update(
        "CREATE TABLE s (id BIGINT PRIMARY KEY, email TEXT, score DOUBLE)".into(),
        None,
    )
    .await
    .unwrap();
    c.execute_update("CREATE UNIQUE INDEX s_email ON s (email)".into(), None)
        .await
        .unwrap();
    c.execute_update("INSERT INTO s VALUES (1, 'a@x', 1.5)".into(), None)
        .await
        .unwrap();
    let cases = [
        ("SELECT * FROM nope", Code::NotFound),
        ("SELEC 1", Code::InvalidArgument),
        ("SELECT nope FROM s", Code::InvalidArgument),
        ("INSERT INTO s VALUES (1, 'b@x', 0)", Code::AlreadyExists),
        ("INSERT INTO s VALUES (2, 'a@x', 0)", Code::AlreadyExists),
        ("SELECT CAST('abc' AS BIGINT)", Code::InvalidArgument),
        (
            "INSERT INTO s VALUES (3, 'c@x', 'not a number')",
            Code::InvalidArgument,
        ),
        (
            "CREATE TABLE s (id BIGINT PRIMARY KEY)",
            Code::AlreadyExists,
        ),
        ("DROP INDEX nope", Code::NotFound),
    ];
    for (sql, expected) in cases {
        // A query's execution errors arrive with its stream, a write's at FlightInfo.
        let err = match c.execute(sql.into(), None).await {
            Ok(info) => try_fetch(&mut c, info).await.unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(code(&err), expected, "{sql}: {err}");
    }
    let mut anonymous = client(&server, None).await;
    let err = anonymous
        .execute("SELECT 1".into(), None)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Code::Unauthenticated);
}

/// A query over its memory or time limit fails with its own code; the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_fail_the_query_not_the_server() {
    let server = start_with(
        "t\n",
        &["--query-memory-mb", "1", "--query-timeout-secs", "2"],
    );
    let mut c = client(&server, Some("t")).await;
    c.execute_update(
        "CREATE TABLE big (id BIGINT PRIMARY KEY, pad TEXT)".into(),
        None,
    )
    .await
    .unwrap();
    let values: Vec<String> = (0..3000)
        .map(|i| format!("({i}, 'padding-padding-{i}')"))
        .collect();
    c.execute_update(format!("INSERT INTO big VALUES {}", values.join(",")), None)
        .await
        .unwrap();

    // A sort of 9M joined rows needs far more than 1 MiB.
    let info = c
        .execute(
            "SELECT a.pad, b.pad FROM big a, big b ORDER BY a.pad, b.pad".into(),
            None,
        )
        .await;
    let err = match info {
        Ok(info) => try_fetch(&mut c, info).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(code(&err), Code::ResourceExhausted, "{err}");

    assert_eq!(count(&mut c, "SELECT count(*) FROM big").await, 3000);

    // 27 billion joined rows to count, with memory to spare: stopped at the deadline.
    let server = start_with("t\n", &["--query-timeout-secs", "2"]);
    let mut c = client(&server, Some("t")).await;
    c.execute_update(
        "CREATE TABLE big (id BIGINT PRIMARY KEY, pad TEXT)".into(),
        None,
    )
    .await
    .unwrap();
    c.execute_update(format!("INSERT INTO big VALUES {}", values.join(",")), None)
        .await
        .unwrap();
    let info = c
        .execute(
            "SELECT count(*) FROM big a, big b, big c WHERE a.id + b.id + c.id > 0".into(),
            None,
        )
        .await
        .unwrap();
    let err = try_fetch(&mut c, info).await.unwrap_err();
    assert_eq!(code(&err), Code::DeadlineExceeded, "{err}");

    assert_eq!(count(&mut c, "SELECT count(*) FROM big").await, 3000);
}
