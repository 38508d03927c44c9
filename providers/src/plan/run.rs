//! Running a cached statement: by its fast plan when the values bound allow it (the run
//! counted in the plan cache either way), planned with its parameters bound otherwise.

use std::sync::Arc;

use datafusion::common::ParamValues;
use datafusion::error::Result;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{execute_stream, SendableRecordBatchStream};

use super::cache::{CachedStatement, PlanCache, Run};

fn has_parameters(params: &ParamValues) -> bool {
    match params {
        ParamValues::List(l) => !l.is_empty(),
        ParamValues::Map(m) => !m.is_empty(),
    }
}

/// Runs a cached statement in `state` with `params`, by its fast plan when these values
/// allow it and planned otherwise: how a statement Quiver builds itself (a list's page)
/// runs from inside another one's plan.
pub(crate) async fn run_in_state(
    state: &SessionState,
    cache: Option<&PlanCache>,
    statement: &CachedStatement,
    params: ParamValues,
    task: Arc<TaskContext>,
) -> Result<SendableRecordBatchStream> {
    if let Some(stream) = run_fast(state, cache, statement, &params, &|| task.clone())? {
        return Ok(stream);
    }
    let physical = state
        .create_physical_plan(&bound_plan(statement, params)?)
        .await?;
    execute_stream(physical, task)
}

/// Runs the statement by its fast plan when these values allow it; None when it needs the
/// planner. Either way the run is counted in `cache`, when there is one.
pub(crate) fn run_fast(
    state: &SessionState,
    cache: Option<&PlanCache>,
    statement: &CachedStatement,
    params: &ParamValues,
    task: &dyn Fn() -> Arc<TaskContext>,
) -> Result<Option<SendableRecordBatchStream>> {
    let count = |run| {
        if let Some(cache) = cache {
            cache.count_run(statement, run);
        }
    };
    let Some(fast) = &statement.fast else {
        count(Run::Planned);
        return Ok(None);
    };
    let ran = fast.execute(state, task, params)?;
    count(if ran.is_some() {
        Run::Fast
    } else {
        Run::Fallback
    });
    Ok(ran)
}

/// The statement's plan with these parameters bound.
pub(crate) fn bound_plan(statement: &CachedStatement, params: ParamValues) -> Result<LogicalPlan> {
    if has_parameters(&params) {
        statement.plan.clone().with_param_values(params)
    } else {
        Ok(statement.plan.clone())
    }
}
