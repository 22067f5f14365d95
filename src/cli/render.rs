//! Printing responses: json as the AWS CLI prints it, text as aligned
//! `Name: value` lines and tables, derived from the same JSON.

use std::io::Write;

use serde_json::Value;

use super::args::OutputFormat;

pub fn print(format: OutputFormat, response: &Value) {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(response).unwrap_or_default() + "\n",
        OutputFormat::Text => text(response),
    };
    // A closed stdout (e.g. `| head`) is not an error worth a second message.
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Renders any response: objects as `Name: value` lines, arrays of objects as tables.
pub fn text(response: &Value) -> String {
    let mut out = String::new();
    render(response, 0, &mut out);
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn is_scalar_list(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()))
}

fn render(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            for (name, field) in map {
                if field.is_object() || (field.is_array() && !is_scalar_list(field)) {
                    out.push_str(&format!("{pad}{name}:\n"));
                    render(field, indent + 2, out);
                } else {
                    out.push_str(&format!("{pad}{name:width$}  {}\n", scalar(field)));
                }
            }
        }
        Value::Array(items) if items.iter().all(Value::is_object) => table(items, indent, out),
        Value::Null => {}
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn table(rows: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    if rows.is_empty() {
        out.push_str(&format!("{pad}(none)\n"));
        return;
    }
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for name in row.as_object().into_iter().flat_map(|m| m.keys()) {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| scalar(row.get(c).unwrap_or(&Value::Null)))
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
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let joined: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect();
        format!("{pad}{}\n", joined.join("  ").trim_end())
    };
    out.push_str(&line(columns.iter().map(String::as_str).collect()));
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_become_aligned_lines_and_lists_tables() {
        let value = json!({"KeyMetadata": {"KeyId": "k1", "Enabled": true}, "Keys": [{"KeyId": "a", "KeyArn": "arn:a"}, {"KeyId": "bb", "KeyArn": "arn:b"}]});
        let rendered = text(&value);
        assert_eq!(
            rendered,
            "KeyMetadata:\n  KeyId    k1\n  Enabled  true\nKeys:\n  KeyId  KeyArn\n  a      arn:a\n  bb     arn:b\n"
        );
    }
}
