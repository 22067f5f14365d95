//! String matching as AWS policies do it: `*`/`?` wildcards and case folding.
//! Pure: imports nothing from the rest of the crate.

/// Whether letter case counts when comparing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Sensitive,
    Insensitive,
}

fn chars(text: &str, case: Case) -> Vec<char> {
    match case {
        Case::Sensitive => text.chars().collect(),
        Case::Insensitive => text.chars().flat_map(char::to_lowercase).collect(),
    }
}

/// `text` equals `other`, ignoring letter case (Unicode lowercase folding).
pub(crate) fn eq_ignore_case(text: &str, other: &str) -> bool {
    chars(text, Case::Insensitive) == chars(other, Case::Insensitive)
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters
/// (also none) and `?` for exactly one; every other character stands for itself.
pub(crate) fn wildcard_match(pattern: &str, text: &str, case: Case) -> bool {
    let pattern = chars(pattern, case);
    let text = chars(text, case);
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was seen: the pattern position after it, and the text
    // position it currently stops at. On a mismatch the star swallows one more char.
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            last_star = Some((p + 1, t));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if let Some((after_star, swallowed_to)) = last_star {
            p = after_star;
            t = swallowed_to + 1;
            last_star = Some((after_star, t));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_table() {
        let table: &[(&str, &str, Case, bool)] = &[
            ("abc", "abc", Case::Sensitive, true),
            ("abc", "abd", Case::Sensitive, false),
            ("abc", "ABC", Case::Sensitive, false),
            ("abc", "ABC", Case::Insensitive, true),
            ("*", "", Case::Sensitive, true),
            ("*", "anything", Case::Sensitive, true),
            ("a*", "a", Case::Sensitive, true),
            ("a*c", "abbbc", Case::Sensitive, true),
            ("a*c", "abbbd", Case::Sensitive, false),
            ("a*b*c", "axxbyyc", Case::Sensitive, true),
            ("a*b*c", "axxcyyb", Case::Sensitive, false),
            ("*ab", "aab", Case::Sensitive, true),
            ("a?c", "abc", Case::Sensitive, true),
            ("a?c", "ac", Case::Sensitive, false),
            ("a?c", "abbc", Case::Sensitive, false),
            ("??", "ab", Case::Sensitive, true),
            ("", "", Case::Sensitive, true),
            ("", "a", Case::Sensitive, false),
            ("a", "", Case::Sensitive, false),
            ("*a*", "bab", Case::Sensitive, true),
            ("*a*", "bbb", Case::Sensitive, false),
            // A `*` in the text is just a character: the pattern's star stays a wildcard.
            ("*x", "*yx", Case::Sensitive, true),
            ("*x", "*", Case::Sensitive, false),
            ("é*", "École", Case::Insensitive, true),
        ];
        for &(pattern, text, case, expected) in table {
            assert_eq!(
                wildcard_match(pattern, text, case),
                expected,
                "{pattern:?} vs {text:?} ({case:?})"
            );
        }
    }

    #[test]
    fn ignore_case_equality() {
        assert!(eq_ignore_case("Finance", "fINANCE"));
        assert!(!eq_ignore_case("Finance", "Finances"));
    }
}
