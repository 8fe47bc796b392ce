//! The `Content-Type` that Go's `http.DetectContentType` (the WHATWG MIME sniffing algorithm)
//! gives a body: http-echo never sets one itself, so clients see whatever Go sniffs from the
//! text, and a drop-in must send the same value for the same text.

/// Go looks at no more than the first 512 bytes.
const SNIFF_LEN: usize = 512;

enum Sig {
    /// One of the HTML tags: case-insensitive, after leading whitespace, followed by a space or `>`.
    Html(&'static [u8]),
    /// `pattern` compared under `mask`, optionally after skipping leading whitespace.
    Masked {
        mask: &'static [u8],
        pattern: &'static [u8],
        skip_ws: bool,
        ct: &'static str,
    },
    Exact(&'static [u8], &'static str),
    Mp4,
    Text,
}

const HTML: &str = "text/html; charset=utf-8";

const SIGNATURES: &[Sig] = &[
    Sig::Html(b"<!DOCTYPE HTML"),
    Sig::Html(b"<HTML"),
    Sig::Html(b"<HEAD"),
    Sig::Html(b"<SCRIPT"),
    Sig::Html(b"<IFRAME"),
    Sig::Html(b"<H1"),
    Sig::Html(b"<DIV"),
    Sig::Html(b"<FONT"),
    Sig::Html(b"<TABLE"),
    Sig::Html(b"<A"),
    Sig::Html(b"<STYLE"),
    Sig::Html(b"<TITLE"),
    Sig::Html(b"<B"),
    Sig::Html(b"<BODY"),
    Sig::Html(b"<BR"),
    Sig::Html(b"<P"),
    Sig::Html(b"<!--"),
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\xFF",
        pattern: b"<?xml",
        skip_ws: true,
        ct: "text/xml; charset=utf-8",
    },
    Sig::Exact(b"%PDF-", "application/pdf"),
    Sig::Exact(b"%!PS-Adobe-", "application/postscript"),
    // Byte-order marks.
    Sig::Masked {
        mask: b"\xFF\xFF\x00\x00",
        pattern: b"\xFE\xFF\x00\x00",
        skip_ws: false,
        ct: "text/plain; charset=utf-16be",
    },
    Sig::Masked {
        mask: b"\xFF\xFF\x00\x00",
        pattern: b"\xFF\xFE\x00\x00",
        skip_ws: false,
        ct: "text/plain; charset=utf-16le",
    },
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\x00",
        pattern: b"\xEF\xBB\xBF\x00",
        skip_ws: false,
        ct: "text/plain; charset=utf-8",
    },
    // Images.
    Sig::Exact(b"\x00\x00\x01\x00", "image/x-icon"),
    Sig::Exact(b"\x00\x00\x02\x00", "image/x-icon"),
    Sig::Exact(b"BM", "image/bmp"),
    Sig::Exact(b"GIF87a", "image/gif"),
    Sig::Exact(b"GIF89a", "image/gif"),
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF\xFF\xFF",
        pattern: b"RIFF\x00\x00\x00\x00WEBPVP",
        skip_ws: false,
        ct: "image/webp",
    },
    Sig::Exact(b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
    Sig::Exact(b"\xFF\xD8\xFF", "image/jpeg"),
    // Audio and video.
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF",
        pattern: b"FORM\x00\x00\x00\x00AIFF",
        skip_ws: false,
        ct: "audio/aiff",
    },
    Sig::Masked { mask: b"\xFF\xFF\xFF", pattern: b"ID3", skip_ws: false, ct: "audio/mpeg" },
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\xFF",
        pattern: b"OggS\x00",
        skip_ws: false,
        ct: "application/ogg",
    },
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
        pattern: b"MThd\x00\x00\x00\x06",
        skip_ws: false,
        ct: "audio/midi",
    },
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF",
        pattern: b"RIFF\x00\x00\x00\x00AVI ",
        skip_ws: false,
        ct: "video/avi",
    },
    Sig::Masked {
        mask: b"\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF",
        pattern: b"RIFF\x00\x00\x00\x00WAVE",
        skip_ws: false,
        ct: "audio/wave",
    },
    Sig::Mp4,
    Sig::Exact(b"\x1A\x45\xDF\xA3", "video/webm"),
    // Fonts.
    Sig::Masked {
        mask: b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xFF\xFF",
        pattern: b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00LP",
        skip_ws: false,
        ct: "application/vnd.ms-fontobject",
    },
    Sig::Exact(b"\x00\x01\x00\x00", "font/ttf"),
    Sig::Exact(b"OTTO", "font/otf"),
    Sig::Exact(b"ttcf", "font/collection"),
    Sig::Exact(b"wOFF", "font/woff"),
    Sig::Exact(b"wOF2", "font/woff2"),
    // Archives.
    Sig::Exact(b"\x1F\x8B\x08", "application/x-gzip"),
    Sig::Exact(b"PK\x03\x04", "application/zip"),
    Sig::Exact(b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
    Sig::Exact(b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
    Sig::Exact(b"\x00\x61\x73\x6D", "application/wasm"),
    Sig::Text,
];

fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Bytes that make the WHATWG algorithm call data binary.
fn is_binary(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F)
}

fn skip_ws(data: &[u8]) -> &[u8] {
    let start = data.iter().position(|b| !is_ws(*b)).unwrap_or(data.len());
    &data[start..]
}

fn matches(sig: &Sig, data: &[u8]) -> Option<&'static str> {
    match sig {
        Sig::Html(tag) => {
            let data = skip_ws(data);
            if data.len() < tag.len() + 1 {
                return None;
            }
            for (i, expected) in tag.iter().enumerate() {
                let mut got = data[i];
                if expected.is_ascii_uppercase() {
                    got &= 0xDF;
                }
                if got != *expected {
                    return None;
                }
            }
            matches!(data[tag.len()], b' ' | b'>').then_some(HTML)
        }
        Sig::Masked {
            mask,
            pattern,
            skip_ws: skip,
            ct,
        } => {
            let data = if *skip { skip_ws(data) } else { data };
            if data.len() < pattern.len() {
                return None;
            }
            let hit = pattern
                .iter()
                .zip(mask.iter())
                .zip(data)
                .all(|((p, m), d)| d & m == *p);
            hit.then_some(*ct)
        }
        Sig::Exact(prefix, ct) => data.starts_with(prefix).then_some(*ct),
        Sig::Mp4 => is_mp4(data).then_some("video/mp4"),
        Sig::Text => {
            let data = skip_ws(data);
            (!data.iter().any(|b| is_binary(*b))).then_some("text/plain; charset=utf-8")
        }
    }
}

fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 {
        return false;
    }
    let box_size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    if data.len() < box_size || !box_size.is_multiple_of(4) || &data[4..8] != b"ftyp" {
        return false;
    }
    (8..box_size)
        .step_by(4)
        .filter(|&st| st != 12)
        .any(|st| data.get(st..st + 3) == Some(b"mp4"))
}

/// The Content-Type Go would send for a response whose body starts with `body`.
pub fn detect_content_type(body: &[u8]) -> &'static str {
    let data = &body[..body.len().min(SNIFF_LEN)];
    SIGNATURES
        .iter()
        .find_map(|sig| matches(sig, data))
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::detect_content_type as ct;

    #[test]
    fn plain_text_is_utf8_text() {
        assert_eq!(ct(b"Hello from app1\n"), "text/plain; charset=utf-8");
        assert_eq!(ct(b"hello-world\n"), "text/plain; charset=utf-8");
        assert_eq!(ct(b"caf\xc3\xa9\n"), "text/plain; charset=utf-8");
        assert_eq!(ct(b""), "text/plain; charset=utf-8");
    }

    #[test]
    fn html_is_detected_after_whitespace_case_insensitively() {
        assert_eq!(ct(b"<h1>app3</h1>\n"), "text/html; charset=utf-8");
        assert_eq!(ct(b"  \n<!doctype html>\n"), "text/html; charset=utf-8");
        assert_eq!(ct(b"<p class=x>hi\n"), "text/html; charset=utf-8");
        assert_eq!(ct(b"<!-- c -->\n"), "text/html; charset=utf-8");
        // A tag must end at a space or '>': "<pre>" is not "<p".
        assert_eq!(ct(b"<pre>x</pre>\n"), "text/plain; charset=utf-8");
        assert_eq!(ct(b"<h1\n"), "text/plain; charset=utf-8");
    }

    #[test]
    fn other_signatures() {
        assert_eq!(ct(b"<?xml version=\"1.0\"?>\n"), "text/xml; charset=utf-8");
        assert_eq!(ct(b"%PDF-1.4\n"), "application/pdf");
        assert_eq!(ct(b"\xEF\xBB\xBFhi\n"), "text/plain; charset=utf-8");
        assert_eq!(ct(b"GIF89a\n"), "image/gif");
        assert_eq!(ct(b"\x1F\x8B\x08\x00"), "application/x-gzip");
        assert_eq!(
            ct(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
            "video/mp4"
        );
        assert_eq!(ct(b"bin\x01ary"), "application/octet-stream");
    }
}
