//! A stand-in STS for measuring GetCredentialsForIdentity's Cognate part:
//! it answers every request at once with the same well-formed
//! AssumeRoleWithWebIdentity success, checking nothing. What remains of the
//! call's cost is Cognate's own (the read, the role choice, the signature,
//! the STS request and the parsing of its answer), not a real STS's (for
//! that, see the Ceph RGW tests in `tests/sts`).

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::wire::{read_head, read_more};

/// The answer to every request (the shape AWS's STS gives).
const ANSWER: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>bench</SubjectFromWebIdentityToken>
    <Audience>bench</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::000000000000:assumed-role/bench/CognitoIdentityCredentials</Arn>
      <AssumedRoleId>AROABENCH:CognitoIdentityCredentials</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>bench-session-token</SessionToken>
      <SecretAccessKey>bench-secret-access-key</SecretAccessKey>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
      <AccessKeyId>ASIABENCH</AccessKeyId>
    </Credentials>
    <Provider>cognate</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

/// Start the stand-in on 127.0.0.1:0 (on the current runtime); its URL.
pub async fn start() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket));
        }
    });
    Ok(url)
}

/// Answer the requests of one keep-alive connection until it closes.
async fn serve(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{ANSWER}",
        ANSWER.len()
    );
    let mut buf = Vec::with_capacity(8192);
    loop {
        // The head, then as much body as it announces.
        let Ok(head_end) = read_head(&mut socket, &mut buf).await else {
            return;
        };
        let length = String::from_utf8_lossy(&buf[..head_end])
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            if read_more(&mut socket, &mut buf).await.is_err() {
                return;
            }
        }
        buf.drain(..head_end + length);
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{request, Connection};

    #[tokio::test]
    async fn every_request_on_a_kept_alive_connection_gets_the_success() {
        let url = start().await.unwrap();
        let host = url.trim_start_matches("http://");
        let mut conn = Connection::new(host);
        for body in ["Action=AssumeRoleWithWebIdentity&RoleArn=x", ""] {
            let answer = conn.send(&request(host, &[], body)).await.unwrap();
            assert_eq!(answer.status, 200);
            assert!(answer.body.contains("<AccessKeyId>ASIABENCH</AccessKeyId>"));
        }
    }
}
