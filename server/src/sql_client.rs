//! `srebot sql "QUERY"`: sends the query to a running server and prints the rows as a table.
//! The windows live in the server's memory, so the command line asks the server.

use crate::auth::Tokens;
use crate::cli::SqlArgs;
use anyhow::{Context, bail};

pub async fn run(args: &SqlArgs) -> anyhow::Result<()> {
    let client =
        crate::cli::remote_client(args.ca_file.as_deref(), std::time::Duration::from_secs(120))?;
    let mut request = client
        .post(format!("{}/api/v1/sql", args.url.trim_end_matches('/')))
        .json(&serde_json::json!({ "query": args.query }));
    if let Some(path) = &args.token_file
        && let Some(token) = Tokens::from_file(path)?.read_write
    {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("asking {}", args.url))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("reading the answer")?;
    if !status.is_success() {
        bail!(
            "{}: {}",
            status,
            body["error"].as_str().unwrap_or("no message")
        );
    }
    let columns: Vec<String> = body["data"]["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let rows = body["data"]["rows"].as_array().cloned().unwrap_or_default();
    print!("{}", render_table(&columns, &rows));
    Ok(())
}

/// Aligned plain-text table of JSON row objects.
pub fn render_table(columns: &[String], rows: &[serde_json::Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| match &row[c] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| -> String {
        let mut text = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ");
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(columns);
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
    }
    out.push_str(&format!("({} rows)\n", rows.len()));
    out
}
