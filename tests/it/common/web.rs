//! HTTP as a browser speaks it, for the editors' pages: cookies, Origin,
//! headers in and out; and signing an editor in without a browser.

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One HTTP/1.1 request; `headers` as (name, value).
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    use tokio::io::AsyncWriteExt;
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let buf = read_response(&mut s).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers
                .entry(k.trim().to_ascii_lowercase())
                .and_modify(|e: &mut String| {
                    e.push_str(", ");
                    e.push_str(v.trim());
                })
                .or_insert_with(|| v.trim().to_string());
        }
    }
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Reads one response: up to its Content-Length when it gives one (some
/// servers keep the connection open whatever the request said), to the
/// end of a chunked body, or else until the server closes.
async fn read_response(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = s.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return buf;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        match length {
            Some(len) if buf.len() >= end + 4 + len => return buf,
            Some(_) => {}
            None if head.contains("transfer-encoding: chunked") && buf.ends_with(b"0\r\n\r\n") => {
                return buf
            }
            None => {}
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A signed-in editor's browser, as far as HTTP goes.
pub struct Session {
    pub base: String,
    pub cookie: String,
    pub token: String,
}

impl Session {
    /// Signs `email` in through a one-time link, as the pages would.
    pub async fn sign_in(ctx: &gazette::app::Ctx, base: &str, email: &str) -> Session {
        let e = gazette::email::EmailAddress::parse(email).unwrap();
        let (_, url) = gazette::editors::link(ctx, &e)
            .await
            .unwrap()
            .expect("an editor");
        let path = url.split_once("/admin/").unwrap().1;
        let r = request(
            "POST",
            &format!("{base}/admin/{path}"),
            &[("Origin", base)],
            "",
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let set = r
            .header("set-cookie")
            .expect("a session cookie")
            .to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        let home = request("GET", &format!("{base}/admin"), &[("Cookie", &cookie)], "").await;
        let page = if home.status == 303 {
            let to = home.header("location").unwrap().to_string();
            request("GET", &format!("{base}{to}"), &[("Cookie", &cookie)], "")
                .await
                .body
        } else {
            home.body
        };
        let token = page
            .split("name=\"_token\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a form token on the page")
            .to_string();
        Session {
            base: base.to_string(),
            cookie,
            token,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        request(
            "GET",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie)],
            "",
        )
        .await
    }

    /// A same-origin POST carrying the form token.
    pub async fn post(&self, path: &str, form: &str) -> Reply {
        let body = if form.is_empty() {
            format!("_token={}", self.token)
        } else {
            format!("_token={}&{form}", self.token)
        };
        request(
            "POST",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie), ("Origin", &self.base)],
            &body,
        )
        .await
    }
}

/// `application/x-www-form-urlencoded` value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
