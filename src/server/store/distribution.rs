//! An attribute's distribution, counted by the database over the
//! `attributes_by_name` index.

use super::definitions::type_of;
use super::{Dialect, Store, StoreError};
use crate::model::attribute::AttrType;
use crate::model::distribution::{bin_label, bins, Bar, Distribution, TOP_VALUES};
use sqlx::Row;

impl Store {
    /// The key's type and how its values spread; None for an unknown key.
    pub async fn distribution(
        &self,
        workspace: i64,
        name: &str,
    ) -> Result<Option<(AttrType, Distribution)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(t) = type_of(&mut conn, workspace, name).await? else {
            return Ok(None);
        };
        let d = match t {
            AttrType::Number | AttrType::Date => self.histogram(workspace, name, t).await?,
            AttrType::String | AttrType::Boolean | AttrType::Array => {
                self.top_values(workspace, name, t).await?
            }
        };
        Ok(Some((t, d)))
    }

    async fn top_values(
        &self,
        workspace: i64,
        name: &str,
        t: AttrType,
    ) -> Result<Distribution, StoreError> {
        // Arrays count each element.
        let (from, value) = match (t, self.dialect) {
            (AttrType::Array, Dialect::Sqlite) => ("attributes a, json_each(a.value) e", "e.value"),
            (AttrType::Array, Dialect::Postgres) => (
                "attributes a, jsonb_array_elements_text(a.value::jsonb) AS e(value)",
                "e.value",
            ),
            _ => ("attributes a", "a.value"),
        };
        let rows = sqlx::query(&format!(
            "SELECT {value} AS v, COUNT(*) AS c FROM {from} WHERE a.workspace_id = $1 AND a.name = $2
             GROUP BY {value} ORDER BY c DESC, v LIMIT {}",
            TOP_VALUES
        ))
        .bind(workspace)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let all: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {from} WHERE a.workspace_id = $1 AND a.name = $2"
        ))
        .bind(workspace)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        let bars = rows
            .iter()
            .map(|r| {
                Ok(Bar {
                    label: r.try_get("v")?,
                    count: r.try_get("c")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let shown: i64 = bars.iter().map(|b| b.count).sum();
        Ok(Distribution::Top {
            bars,
            others: all - shown,
        })
    }

    async fn histogram(
        &self,
        workspace: i64,
        name: &str,
        t: AttrType,
    ) -> Result<Distribution, StoreError> {
        let range = sqlx::query(
            "SELECT MIN(num) AS lo, MAX(num) AS hi FROM attributes WHERE workspace_id = $1 AND name = $2",
        )
        .bind(workspace)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        let (Some(min), Some(max)) = (
            range.try_get::<Option<f64>, _>("lo")?,
            range.try_get::<Option<f64>, _>("hi")?,
        ) else {
            return Ok(Distribution::Histogram { bars: Vec::new() });
        };
        let dates = t == AttrType::Date;
        let (low, width, n) = bins(min, max, dates);
        // num >= low, so truncating is flooring; PostgreSQL rounds casts.
        let bin = match self.dialect {
            Dialect::Sqlite => "CAST((num - $3) / $4 AS INTEGER)",
            Dialect::Postgres => "CAST(FLOOR((num - $3) / $4) AS BIGINT)",
        };
        let rows = sqlx::query(&format!(
            "SELECT {bin} AS b, COUNT(*) AS c FROM attributes WHERE workspace_id = $1 AND name = $2 GROUP BY b"
        ))
        .bind(workspace)
        .bind(name)
        .bind(low)
        .bind(width)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = vec![0i64; n];
        for r in rows {
            let b: i64 = r.try_get("b")?;
            let slot = (b.max(0) as usize).min(n - 1);
            counts[slot] += r.try_get::<i64, _>("c")?;
        }
        let bars = counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| Bar {
                label: bin_label(low + width * i as f64, width, dates),
                count,
            })
            .collect();
        Ok(Distribution::Histogram { bars })
    }
}
