use super::*;

#[test]
fn automatic_responses_get_ccf_error_bodies() {
    let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 19:00:00 GMT\r\n\r\n";
    let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
    let (h, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        h.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{h}"
    );
    assert!(
        h.contains("date: Thu, 03 Dec 2026"),
        "other headers kept: {h}"
    );
    assert!(h.contains("content-type: application/json"), "{h}");
    assert!(
        h.contains(&format!("content-length: {}", body.len())),
        "{h}"
    );
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], "RequestHeaderTooLarge");
    assert!(v["error"]["message"].as_str().unwrap().len() > 10);
    let bad = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
    assert!(String::from_utf8(rewrite(bad).unwrap())
        .unwrap()
        .contains("MalformedRequest"));
    // Anything else passes untouched: a handler's refusal (it has a body), another
    // status, a head followed by a body, a response that is not HTTP/1.
    for keep in [
        &b"HTTP/1.1 404 Not Found\r\ncontent-length: 52\r\n\r\n"[..],
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nextra",
        b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"HTTP/2 400\r\ncontent-length: 0\r\n\r\n",
        b"not http at all",
    ] {
        assert!(rewrite(keep).is_none(), "{}", String::from_utf8_lossy(keep));
    }
}
