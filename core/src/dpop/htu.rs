//! The `htu` comparison of RFC 9449 §4.3 step 9: the proof's `htu` and the request's URL,
//! each without query and fragment, compared after syntax-based and scheme-based
//! normalization (RFC 3986 §6.2.2 and §6.2.3):
//!
//! - scheme and host to lower case (§6.2.2.1);
//! - percent-encodings: hexadecimal digits to upper case, unreserved characters decoded
//!   (§6.2.2.1, §6.2.2.2);
//! - dot segments removed (§6.2.2.3, with the algorithm of §5.2.4);
//! - the default port of the scheme, and an empty port, dropped; an empty path is `/`
//!   (§6.2.3).
//!
//! Only `http` and `https` URLs with an authority are accepted; a user-info part (which RFC
//! 9110 §4.2.4 forbids in these schemes) and any byte outside printable ASCII are refused.

/// The longest URL normalized (a proof is at most 8 KiB anyway).
pub const MAX_URL_LEN: usize = 4096;

/// Why a URL could not be normalized.
pub type HtuError = &'static str;

/// `url` normalized, without query and fragment.
pub fn normalize(url: &[u8]) -> Result<String, HtuError> {
    if url.len() > MAX_URL_LEN {
        return Err("longer than 4096 bytes");
    }
    if url.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
        return Err("a byte that is not printable ASCII");
    }
    // Query and fragment are not compared (RFC 9449 §4.3 step 9).
    let url = without_query(url);
    let colon = url.iter().position(|&b| b == b':').ok_or("no scheme")?;
    let scheme = url[..colon].to_ascii_lowercase();
    let default_port = match scheme.as_slice() {
        b"http" => 80,
        b"https" => 443,
        _ => return Err("not an http or https URL"),
    };
    let rest = url[colon + 1..].strip_prefix(b"//").ok_or("no authority")?;
    let auth_end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(auth_end);
    if authority.contains(&b'@') {
        return Err("a user-info part");
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return Err("an empty host");
    }
    let mut out = String::with_capacity(url.len() + 1);
    out.push_str(if default_port == 80 { "http://" } else { "https://" });
    let host = percent_normalize(host)?;
    out.push_str(&host.to_ascii_lowercase());
    if let Some(port) = port {
        if port != default_port {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    let path = percent_normalize(path)?;
    let path = remove_dot_segments(&path);
    if path.is_empty() {
        out.push('/');
    } else {
        out.push_str(&path);
    }
    Ok(out)
}

/// `url` without its query and fragment.
pub fn without_query(url: &[u8]) -> &[u8] {
    let end = url
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(url.len());
    &url[..end]
}

/// Host and port (`None`: no port, or an empty one) of an authority.
fn split_host_port(authority: &[u8]) -> Result<(&[u8], Option<u16>), HtuError> {
    let (host, port) = if authority.first() == Some(&b'[') {
        let close = authority
            .iter()
            .position(|&b| b == b']')
            .ok_or("an unclosed IPv6 literal")?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return Err("bytes after an IPv6 literal"),
        }
    } else {
        match authority.iter().rposition(|&b| b == b':') {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some([]) => None,
        Some(digits) => {
            if digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
                return Err("an invalid port");
            }
            let n: u32 = digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
            Some(u16::try_from(n).map_err(|_| "an invalid port")?)
        }
    };
    Ok((host, port))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodings with upper-case hexadecimal digits, unreserved characters decoded.
fn percent_normalize(s: &[u8]) -> Result<String, HtuError> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|&c| hex(c)),
                s.get(i + 2).and_then(|&c| hex(c)),
            ) else {
                return Err("an invalid percent-encoding");
            };
            let v = h << 4 | l;
            if unreserved(v) {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(h)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(l)]));
            }
            i += 3;
        } else {
            out.push(char::from(b));
            i += 1;
        }
    }
    Ok(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out: Vec<&str> = Vec::new();
    while !input.is_empty() {
        if let Some(r) = input.strip_prefix("../").or_else(|| input.strip_prefix("./")) {
            input = r;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            out.pop();
        } else if input == "/.." {
            input = "/";
            out.pop();
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            out.push(&input[..end]);
            input = &input[end..];
            continue;
        }
    }
    out.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, HtuError> {
        normalize(s.as_bytes())
    }

    #[test]
    fn scheme_and_host_case() {
        assert_eq!(
            n("HTTPS://Server.Example.COM/Path").unwrap(),
            "https://server.example.com/Path"
        );
        assert_eq!(n("hTTp://A/b").unwrap(), "http://a/b");
    }

    #[test]
    fn default_and_empty_ports() {
        assert_eq!(n("https://a.example:443/x").unwrap(), "https://a.example/x");
        assert_eq!(n("http://a.example:80/x").unwrap(), "http://a.example/x");
        assert_eq!(n("https://a.example:/x").unwrap(), "https://a.example/x");
        assert_eq!(n("https://a.example:0443/x").unwrap(), "https://a.example/x");
        assert_eq!(n("https://a.example:80/x").unwrap(), "https://a.example:80/x");
        assert_eq!(n("http://[::1]:8080/x").unwrap(), "http://[::1]:8080/x");
        assert_eq!(n("http://[::1]:80").unwrap(), "http://[::1]/");
        assert!(n("http://a:99999/").is_err());
        assert!(n("http://a:8x/").is_err());
    }

    #[test]
    fn empty_path_query_fragment() {
        assert_eq!(n("https://a.example").unwrap(), "https://a.example/");
        assert_eq!(n("https://a.example?x=1#f").unwrap(), "https://a.example/");
        assert_eq!(n("https://a.example/p?x=1").unwrap(), "https://a.example/p");
        assert_eq!(n("https://a.example/p#frag").unwrap(), "https://a.example/p");
    }

    #[test]
    fn percent_encoding_case_and_unreserved() {
        assert_eq!(n("https://a/%7euser/%2f%3a").unwrap(), "https://a/~user/%2F%3A");
        assert_eq!(n("https://a/%41%62c").unwrap(), "https://a/Abc");
        assert!(n("https://a/%4").is_err());
        assert!(n("https://a/%zz").is_err());
    }

    #[test]
    fn dot_segments() {
        assert_eq!(n("https://a/b/c/./../../g").unwrap(), "https://a/g");
        assert_eq!(n("https://a/mid/content=5/../6").unwrap(), "https://a/mid/6");
        assert_eq!(n("https://a/../../x").unwrap(), "https://a/x");
        assert_eq!(n("https://a/x/.").unwrap(), "https://a/x/");
        assert_eq!(n("https://a/x/..").unwrap(), "https://a/");
        assert_eq!(n("https://a/x/%2E%2E/y").unwrap(), "https://a/y");
        assert_eq!(n("https://a/x//y").unwrap(), "https://a/x//y");
    }

    #[test]
    fn refusals() {
        assert!(n("ftp://a/").is_err());
        assert!(n("https:/a/").is_err());
        assert!(n("https://user@a/").is_err());
        assert!(n("https:///x").is_err());
        assert!(n("https://a/ x").is_err());
        assert!(n("https://a/\u{e9}").is_err());
        assert!(n("a/b").is_err());
        assert!(normalize(&vec![b'a'; 5000]).is_err());
        assert!(n("http://[::1/").is_err());
        assert!(n("http://[::1]x/").is_err());
    }
}
