//! Fitting text into a terminal line by display width: wide (East Asian, emoji) characters take
//! two columns, combining marks none. Long text is shortened in the middle, so both its start
//! and its end (a dump's name and its extension, a log line's subject and its outcome) stay.

use std::borrow::Cow;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// What stands for the characters left out of shortened text.
pub const ELLIPSIS: char = '…';

/// The columns `text` takes on a terminal.
pub fn columns(text: &str) -> usize {
    text.width()
}

/// `text` in at most `width` columns: as it is when it fits, otherwise its start and its end
/// with [`ELLIPSIS`] between them (the start gets the odd column).
pub fn shorten(text: &str, width: usize) -> Cow<'_, str> {
    if columns(text) <= width {
        return Cow::Borrowed(text);
    }
    if width == 0 {
        return Cow::Borrowed("");
    }
    // Summing the widths of single characters can undercount a sequence the terminal draws
    // wider (an emoji with a presentation selector), so the result is measured as a whole
    // and the budget lowered until it fits; "…" alone always does.
    let mut budget = width - 1;
    loop {
        let joined = join_ends(text, budget);
        if columns(&joined) <= width || budget == 0 {
            return Cow::Owned(joined);
        }
        budget -= 1;
    }
}

/// The start and the end of `text` in `budget` columns, with the ellipsis between.
fn join_ends(text: &str, budget: usize) -> String {
    let head_budget = budget - budget / 2;
    let mut head_end = 0;
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let w = char_columns(c);
        if used + w > head_budget {
            break;
        }
        used += w;
        head_end = i + c.len_utf8();
    }
    let tail_budget = budget - used;
    let rest = &text[head_end..];
    let mut tail_start = rest.len();
    let mut tail_used = 0;
    for (i, c) in rest.char_indices().rev() {
        let w = char_columns(c);
        if tail_used + w > tail_budget {
            break;
        }
        tail_used += w;
        tail_start = i;
    }
    // The tail must not begin with a mark whose base character was left out.
    let tail = rest[tail_start..].trim_start_matches(|c: char| char_columns(c) == 0);
    let mut out = String::with_capacity(head_end + ELLIPSIS.len_utf8() + tail.len());
    out.push_str(&text[..head_end]);
    out.push(ELLIPSIS);
    out.push_str(tail);
    out
}

fn char_columns(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// `text` on one line: line breaks, tabs and other control characters become spaces, so a
/// multi-line service message cannot break the line it is shown on.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_that_fits_is_unchanged() {
        assert_eq!(shorten("dump.sql", 8), "dump.sql");
        assert_eq!(shorten("dump.sql", 80), "dump.sql");
        assert!(matches!(shorten("dump.sql", 8), Cow::Borrowed(_)));
        assert_eq!(shorten("", 0), "");
    }

    #[test]
    fn long_text_keeps_both_ends() {
        let name = format!("{}.sql", "a".repeat(96));
        assert_eq!(columns(&name), 100);
        let short = shorten(&name, 21);
        assert_eq!(short, format!("{}…{}", "a".repeat(10), "aaaaaa.sql"));
        assert_eq!(columns(&short), 21);
        assert_eq!(shorten("abcdefghij", 5), "ab…ij");
        assert_eq!(shorten("abcdefghij", 6), "abc…ij");
    }

    #[test]
    fn tiny_widths() {
        assert_eq!(shorten("abc", 0), "");
        assert_eq!(shorten("abc", 1), "…");
        assert_eq!(shorten("abc", 2), "a…");
        assert_eq!(shorten("abc", 3), "abc");
    }

    #[test]
    fn wide_characters_count_two_columns() {
        // Eleven CJK characters: 22 columns.
        let text = "数据库备份文件导出完成";
        assert_eq!(columns(text), 22);
        let short = shorten(text, 9);
        // 8 columns of text around the ellipsis: 2 characters each side.
        assert_eq!(short, "数据…完成");
        assert_eq!(columns(&short), 9);
        // An odd budget cannot be filled by two-column characters: one column stays empty.
        let short = shorten(text, 8);
        assert_eq!(short, "数据…成");
        assert_eq!(columns(&short), 7);
    }

    #[test]
    fn combining_marks_stay_with_their_letter() {
        // "e" + combining acute, twelve times: 12 columns, 24 characters.
        let text = "e\u{301}".repeat(12);
        let short = shorten(&text, 5);
        assert_eq!(columns(&short), 5);
        assert!(short.starts_with("e\u{301}e\u{301}…"), "{short:?}");
        assert!(short.ends_with("e\u{301}e\u{301}"), "{short:?}");
        assert!(
            !short.contains("…\u{301}"),
            "a mark without its letter: {short:?}"
        );
    }

    #[test]
    fn emoji_sequences_are_measured_as_drawn() {
        // U+2764 U+FE0F is drawn two columns wide although its characters sum to one.
        let text = "\u{2764}\u{fe0f}".repeat(20);
        for width in 0..45 {
            assert!(columns(&shorten(&text, width)) <= width, "width {width}");
        }
    }

    #[test]
    fn one_line_replaces_control_characters() {
        assert_eq!(one_line("a\nb\r\tc\u{1b}[2J"), "a b  c [2J");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
    }

    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-z0-9._-]{1,8}",
            Just("数据".to_owned()),
            Just("e\u{301}".to_owned()),
            Just("\u{2764}\u{fe0f}".to_owned()),
            Just("🦀".to_owned()),
            Just(" ".to_owned()),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn shortened_text_fits_and_keeps_a_start_and_an_end(text in text(), width in 0usize..120) {
            let short = shorten(&text, width);
            prop_assert!(columns(&short) <= width);
            if columns(&text) <= width {
                prop_assert_eq!(short.as_ref(), text.as_str());
            } else if width > 0 {
                let (head, tail) = short.split_once(ELLIPSIS).expect("an ellipsis");
                prop_assert!(text.starts_with(head));
                prop_assert!(text.ends_with(tail));
                prop_assert!(head.len() + tail.len() < text.len());
                // No column wasted but what a two-column character or a wide sequence leaves.
                prop_assert!(columns(&short) + 3 >= width, "{:?} in {}", short, width);
                // The start gets at least as much as the end, within one character (counted
                // as the budget is, character by character).
                let sum = |s: &str| s.chars().map(char_columns).sum::<usize>();
                prop_assert!(sum(head) + 2 >= sum(tail));
            }
        }
    }
}
