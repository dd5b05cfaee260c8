//! A small NGINX configuration tokenizer, enough to find the files a configuration includes (for
//! a fingerprint of the configuration).
//!
//! It follows NGINX's own lexer (`ngx_conf_read_token` in `src/core/ngx_conf_file.c`):
//!
//! - spaces, tabs, CR and LF separate tokens;
//! - `#` at the start of a token starts a comment to the end of the line (inside a word it is
//!   an ordinary character);
//! - a token starting with `"` or `'` runs to the matching quote; a backslash escapes the next
//!   character, in quoted and unquoted tokens alike, and in the token's value `\"`, `\'`, `\\`,
//!   `\t`, `\r`, `\n` become the character they name (any other backslash is kept);
//! - a closing quote must be followed by whitespace, `;`, `{` or `)`;
//! - `;` ends a directive, `{` opens its block, `}` closes a block; `;` and `{` directly after
//!   a word end it too (`${` inside a word is a variable, not a block);
//! - quoting does not change what a token is: `"include" x;` is an `include` directive, as it is
//!   for NGINX.
//!
//! Where NGINX would refuse the text (an unterminated quote, a character straight after a
//! closing quote), scanning stops and what was found before is returned: such a configuration
//! never loads, so nothing it includes matters.

/// At most this many `include` arguments are returned.
pub const MAX_INCLUDES: usize = 1000;

enum Token {
    Word(Vec<u8>),
    /// `;`
    End,
    /// `{`
    Open,
    /// `}`
    Close,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The value of a token's text: NGINX's escapes resolved.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            let named = match raw.get(i + 1) {
                Some(&c @ (b'"' | b'\'' | b'\\')) => Some(c),
                Some(b't') => Some(b'\t'),
                Some(b'r') => Some(b'\r'),
                Some(b'n') => Some(b'\n'),
                _ => None,
            };
            if let Some(c) = named {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

impl Lexer<'_> {
    /// The next token; `None` at the end of the text or where NGINX would report an error.
    fn next_token(&mut self) -> Option<Token> {
        loop {
            let c = *self.text.get(self.pos)?;
            match c {
                _ if is_space(c) => self.pos += 1,
                b'#' => {
                    let rest = &self.text[self.pos..];
                    self.pos += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                }
                b';' | b'{' | b'}' => {
                    self.pos += 1;
                    return Some(match c {
                        b';' => Token::End,
                        b'{' => Token::Open,
                        _ => Token::Close,
                    });
                }
                b'"' | b'\'' => return self.quoted(c),
                _ => return Some(self.word()),
            }
        }
    }

    /// A token in quotes, `self.pos` at the opening quote.
    fn quoted(&mut self, quote: u8) -> Option<Token> {
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match *self.text.get(i)? {
                b'\\' => i += 2,
                c if c == quote => break,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        match self.text.get(self.pos) {
            None | Some(b';' | b'{' | b')') => {}
            Some(&c) if is_space(c) => {}
            Some(_) => return None,
        }
        Some(Token::Word(unescape(&self.text[start..i])))
    }

    /// An unquoted word, `self.pos` at its first character.
    fn word(&mut self) -> Token {
        let start = self.pos;
        let mut i = start;
        let mut variable = false;
        while let Some(&c) = self.text.get(i) {
            if c == b'\\' {
                i += 2;
                variable = false;
                continue;
            }
            if c == b'{' && variable {
                i += 1;
                variable = false;
                continue;
            }
            if is_space(c) || c == b';' || c == b'{' {
                break;
            }
            variable = c == b'$';
            i += 1;
        }
        self.pos = i.min(self.text.len());
        Token::Word(unescape(&self.text[start..self.pos]))
    }
}

/// The argument of every `include` directive in an `nginx.conf` text, at any block depth, in
/// order: directives whose first token is exactly `include` and that have exactly one argument
/// and end with `;`. At most [`MAX_INCLUDES`].
pub fn includes(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut lexer = Lexer { text, pos: 0 };
    // The current directive: how many tokens so far, and its argument if it is an include.
    let mut count = 0usize;
    let mut is_include = false;
    let mut arg = None;
    while let Some(token) = lexer.next_token() {
        match token {
            Token::Word(w) => {
                match count {
                    0 => is_include = w == b"include",
                    1 if is_include => arg = Some(w),
                    _ => {}
                }
                count += 1;
            }
            Token::End | Token::Open | Token::Close => {
                if matches!(token, Token::End) && is_include && count == 2 {
                    out.extend(arg.take());
                    if out.len() == MAX_INCLUDES {
                        break;
                    }
                }
                count = 0;
                is_include = false;
                arg = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(text: &str) -> Vec<String> {
        includes(text.as_bytes())
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn finds_includes_at_any_depth() {
        let conf = "
            user nginx;
            include /etc/nginx/modules/*.conf;
            events { worker_connections 1024; }
            http {
                include       mime.types;
                server {
                    listen 80;
                    location / { include snippets/auth.conf; }
                }
                include conf.d/*.conf;
            }
        ";
        assert_eq!(
            inc(conf),
            vec![
                "/etc/nginx/modules/*.conf",
                "mime.types",
                "snippets/auth.conf",
                "conf.d/*.conf"
            ]
        );
    }

    #[test]
    fn comments_are_skipped_only_at_token_start() {
        let conf = "# include commented.conf;\ninclude a.conf; # include trailing.conf;\n\
                    include b#c.conf;\n   #include x;\r\ninclude d.conf;";
        assert_eq!(inc(conf), vec!["a.conf", "b#c.conf", "d.conf"]);
    }

    #[test]
    fn quoted_strings_and_escapes() {
        let conf = r#"
            include "with space.conf";
            include 'single;quoted{}.conf';
            include "a\"b\\c\'d";
            include 'tab\there\nnl\rcr\x';
            include a\ b;
            include a\;b;
            "include" quoted-name.conf;
        "#;
        assert_eq!(
            inc(conf),
            vec![
                "with space.conf",
                "single;quoted{}.conf",
                "a\"b\\c'd",
                "tab\there\nnl\rcr\\x",
                "a\\ b",
                "a\\;b",
                "quoted-name.conf",
            ]
        );
    }

    #[test]
    fn include_in_a_string_or_a_comment_is_not_counted() {
        let conf = r##"
            return 200 "include in.string;";
            set $x 'include a.conf;';
            add_header X "# include c.conf;";
            # include d.conf;
            log_format main "include $x" ;
        "##;
        assert!(inc(conf).is_empty(), "{:?}", inc(conf));
    }

    #[test]
    fn only_include_with_exactly_one_argument() {
        assert!(inc("xinclude a.conf;").is_empty());
        assert!(inc("includex a.conf;").is_empty());
        assert!(
            inc("Include a.conf;").is_empty(),
            "directive names are case-sensitive"
        );
        assert!(inc("include a.conf b.conf;").is_empty());
        assert!(inc("include;").is_empty());
        assert!(inc("include a.conf { }").is_empty(), "a block is not an include");
        assert!(inc("include a.conf").is_empty(), "no `;`: not a directive");
        assert!(inc("x { include a.conf }").is_empty(), "`}}` is not a `;`");
        assert_eq!(inc("set $v include; include b;"), vec!["b"]);
    }

    #[test]
    fn semicolon_and_braces_end_words() {
        assert_eq!(inc("include a;include b;"), vec!["a", "b"]);
        assert_eq!(inc("http{include a;}include b;"), vec!["a", "b"]);
        assert_eq!(inc("x{}include c;"), vec!["c"]);
        assert_eq!(
            inc("include a}b;"),
            vec!["a}b"],
            "`}}` inside a word is a character"
        );
        assert_eq!(
            inc("include ${dir}/x.conf;"),
            vec!["${dir}/x.conf"],
            "`${{` is a variable"
        );
        assert_eq!(inc("include\ta.conf\r\n;"), vec!["a.conf"]);
    }

    #[test]
    fn refused_text_stops_the_scan() {
        assert_eq!(
            inc("include a; include \"b.conf;"),
            vec!["a"],
            "unterminated quote"
        );
        assert_eq!(inc("include a; include \"b\"c; include d;"), vec!["a"]);
        assert_eq!(inc("include \"a\"; include 'b'{ }"), vec!["a"]);
        assert_eq!(inc("include a\\"), Vec::<String>::new(), "a trailing backslash");
    }

    #[test]
    fn bounded_to_max_includes() {
        let conf = "include f;\n".repeat(MAX_INCLUDES + 500);
        assert_eq!(includes(conf.as_bytes()).len(), MAX_INCLUDES);
        let conf = "include f;\n".repeat(3);
        assert_eq!(includes(conf.as_bytes()).len(), 3);
        assert!(includes(b"").is_empty());
    }
}
