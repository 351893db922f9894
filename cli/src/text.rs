//! Text from the service or the network is data: before it reaches a terminal or a log, its
//! control characters (C0 but tab, DEL, C1 — ESC included) are replaced, so no log line,
//! error message or file name can move the cursor, retitle the window or clear the screen.

use std::borrow::Cow;

/// What a control character is shown as.
const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` is replaced: C0 controls but tab, DEL, and C1 controls.
fn is_unsafe(c: char) -> bool {
    (c.is_ascii_control() && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c)
}

/// `text` with its control characters replaced (borrowed when there is none).
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe) {
        Cow::Owned(
            text.chars()
                .map(|c| if is_unsafe(c) { REPLACEMENT } else { c })
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
    fn escapes_and_controls_are_replaced_tabs_and_text_kept() {
        assert_eq!(clean("plain\ttext é ✓"), "plain\ttext é ✓");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
        assert_eq!(
            clean("\u{1b}]0;pwned\u{7}\u{1b}[2Jx\r\ny\u{7f}\u{9b}31m"),
            "\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}[2Jx\u{FFFD}\u{FFFD}y\u{FFFD}\u{FFFD}31m"
        );
    }

    proptest! {
        #[test]
        fn cleaned_text_has_no_control_character(s in any::<String>()) {
            let cleaned = clean(&s);
            prop_assert!(!cleaned.chars().any(is_unsafe));
            prop_assert_eq!(cleaned.chars().count(), s.chars().count());
        }
    }
}
