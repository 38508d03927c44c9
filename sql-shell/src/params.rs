//! `?` placeholders, as clients (ADBC, JDBC) write them, turned into DataFusion's `$1, $2, …`.

/// Rewrites each `?` outside string literals, quoted identifiers and comments into `$n`.
pub fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // Copy through the closing quote; a doubled quote is an escaped one.
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == c {
                        if chars.peek() == Some(&c) {
                            out.push(chars.next().unwrap_or(c));
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::number_placeholders;

    #[test]
    fn only_bare_question_marks_are_numbered() {
        assert_eq!(
            number_placeholders("SELECT * FROM t WHERE a = ? AND b > ?"),
            "SELECT * FROM t WHERE a = $1 AND b > $2"
        );
        assert_eq!(
            number_placeholders("SELECT '?', \"a?\" FROM t WHERE x = ?"),
            "SELECT '?', \"a?\" FROM t WHERE x = $1"
        );
        assert_eq!(
            number_placeholders("SELECT 'it''s ?' -- why?\n, ?"),
            "SELECT 'it''s ?' -- why?\n, $1"
        );
        assert_eq!(number_placeholders("SELECT $1"), "SELECT $1");
    }
}
