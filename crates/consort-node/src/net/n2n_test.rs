use consort_crypto::{cert, keys::SigningKey};
use consort_ledger::identity::ServiceIdentity;

use super::*;

fn sans() -> consort_crypto::cert::Sans {
    consort_crypto::cert::Sans {
        ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        ..Default::default()
    }
}

async fn listen() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

#[tokio::test]
async fn endorsed_nodes_talk_and_outsiders_are_refused() {
    let service = ServiceIdentity::generate().unwrap();
    let a = NodeIdentity::generate(&service, &sans()).unwrap();
    let b = NodeIdentity::generate(&service, &sans()).unwrap();
    let (listener, addr) = listen().await;
    let acc = acceptor(&a, &service.cert).unwrap();
    let server = tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..3 {
            match accept(&listener, &acc).await {
                Ok((peer, mut s)) => {
                    let f = read_frame(&mut s).await.unwrap().unwrap();
                    write_frame(&mut s, &f).await.unwrap();
                    results.push(Some(peer));
                }
                Err(_) => results.push(None),
            }
        }
        results
    });
    // An endorsed peer: echo works, and the server learns its node id.
    let mut s = connect(addr, &connector(&b, &service.cert).unwrap(), None)
        .await
        .unwrap();
    write_frame(&mut s, b"hello").await.unwrap();
    assert_eq!(&read_frame(&mut s).await.unwrap().unwrap()[..], b"hello");
    drop(s);

    // A node of another service: its certificate does not chain to our service.
    let other = ServiceIdentity::generate().unwrap();
    let c = NodeIdentity::generate(&other, &sans()).unwrap();
    let r = async {
        let mut s = connect(addr, &connector(&c, &service.cert).unwrap(), None).await?;
        write_frame(&mut s, b"x").await?;
        read_frame(&mut s).await
    }
    .await;
    assert!(!matches!(r, Ok(Some(_))), "outsider got an answer");

    // A self-signed certificate (not endorsed), presented by a raw TLS client.
    let k = SigningKey::generate().unwrap();
    let self_signed = cert::self_signed_leaf(&k, "CCF Node", 30).unwrap();
    let rogue = NodeIdentity::from_parts(k, self_signed).unwrap();
    let r = async {
        let mut s = connect(addr, &connector(&rogue, &service.cert).unwrap(), None).await?;
        write_frame(&mut s, b"x").await?;
        read_frame(&mut s).await
    }
    .await;
    assert!(!matches!(r, Ok(Some(_))), "self-signed peer got an answer");

    let results = server.await.unwrap();
    assert_eq!(results[0].as_deref(), Some(b.node_id.as_str()));
    assert_eq!(results[1], None);
    assert_eq!(results[2], None);
}

#[tokio::test]
async fn frames_are_bounded() {
    let (mut a, mut b) = tokio::io::duplex(1 << 16);
    write_frame(&mut a, b"abc").await.unwrap();
    assert_eq!(&read_frame(&mut b).await.unwrap().unwrap()[..], b"abc");
    // A clean end of stream between frames is not an error.
    write_frame(&mut a, b"").await.unwrap();
    assert_eq!(read_frame(&mut b).await.unwrap().unwrap().len(), 0);
    // A length beyond the limit is refused before anything is allocated.
    tokio::io::AsyncWriteExt::write_all(&mut a, &(u32::MAX).to_be_bytes())
        .await
        .unwrap();
    assert!(read_frame(&mut b).await.is_err());
    let (a2, mut b2) = tokio::io::duplex(64);
    drop(a2);
    assert!(read_frame(&mut b2).await.unwrap().is_none());
}
