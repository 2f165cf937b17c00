//! `consort gov`: a member's governance commands. Requests are signed here with the
//! member's key (COSE Sign1, CCF's headers); the key is never sent anywhere.

#![allow(clippy::print_stdout)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use consort_client::{
    gov::{Gov, Member},
    ClientConfig, Reply,
};
use consort_crypto::{cert::Certificate, keys::SigningKey};

#[derive(Debug, Args)]
pub(crate) struct GovArgs {
    /// A node of the service.
    #[arg(long, default_value = "127.0.0.1:8000", global = true)]
    address: SocketAddr,
    /// The service certificate (trusted to identify the service).
    #[arg(
        long,
        default_value = "workspace/sandbox/service_cert.pem",
        global = true
    )]
    service_cert: PathBuf,
    /// The member's certificate.
    #[arg(
        long,
        default_value = "workspace/sandbox/member0_cert.pem",
        global = true
    )]
    cert: PathBuf,
    /// The member's private key (stays on this machine).
    #[arg(
        long,
        default_value = "workspace/sandbox/member0_privk.pem",
        global = true
    )]
    key: PathBuf,
    #[command(subcommand)]
    cmd: GovCmd,
}

#[derive(Debug, Subcommand)]
enum GovCmd {
    /// Submit a proposal: a JSON file `{"actions": [{"name": ..., "args": {...}}]}`.
    Propose {
        proposal: PathBuf,
    },
    /// Vote on a proposal.
    Vote {
        proposal_id: String,
        #[arg(long, conflicts_with = "reject", required_unless_present_any = ["reject", "ballot"])]
        accept: bool,
        #[arg(long)]
        reject: bool,
        /// A ballot script (`export function vote(proposal, proposerId) {...}`) instead.
        #[arg(long, conflicts_with_all = ["accept", "reject"])]
        ballot: Option<PathBuf>,
    },
    /// Withdraw a proposal you made.
    Withdraw {
        proposal_id: String,
    },
    /// One proposal's state, or every proposal's.
    Status {
        proposal_id: Option<String>,
    },
    /// Acknowledge the service state: an `Accepted` member becomes `Active`.
    Ack,
    Members,
    Users,
    Nodes,
    /// Print the constitution in force.
    Constitution,
    /// This member's recovery share: fetched encrypted, decrypted here with the member's
    /// encryption key (which never leaves this machine).
    Share {
        #[command(subcommand)]
        cmd: ShareCmd,
    },
}

#[derive(Debug, Subcommand)]
enum ShareCmd {
    /// Fetch the encrypted share and check that it decrypts with the key; prints the
    /// encrypted share (base64), never the share itself.
    Fetch {
        /// The member's RSA encryption private key (`member0_enc_privk.pem`).
        #[arg(long)]
        enc_key: PathBuf,
    },
    /// During a recovery: fetch, decrypt and submit the share (signed by the member).
    Submit {
        /// The member's RSA encryption private key (`member0_enc_privk.pem`).
        #[arg(long)]
        enc_key: PathBuf,
    },
}

/// Fetch this member's share and decrypt it here.
async fn my_share(gov: &Gov, enc_key: &str) -> Result<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)> {
    let encrypted = gov
        .encrypted_share()
        .await
        .context("fetching the encrypted recovery share")?;
    let share = consort_client::gov::decrypt_share(&encrypted, enc_key)?;
    Ok((encrypted, share))
}

fn show(r: &Reply) -> Result<ExitCode> {
    let body = String::from_utf8_lossy(&r.body);
    match serde_json::from_slice::<serde_json::Value>(&r.body) {
        Ok(j) => println!("{}", serde_json::to_string_pretty(&j)?),
        Err(_) => println!("{body}"),
    }
    if (200..300).contains(&r.status) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: HTTP {}", r.status);
        Ok(ExitCode::FAILURE)
    }
}

pub(crate) fn run(args: GovArgs) -> Result<ExitCode> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let service = Certificate::from_pem(&read(&args.service_cert)?)
        .with_context(|| format!("{} is not a certificate", args.service_cert.display()))?;
    let cert = Certificate::from_pem(&read(&args.cert)?)
        .with_context(|| format!("{} is not a certificate", args.cert.display()))?;
    let key = SigningKey::from_pem(&read(&args.key)?)
        .with_context(|| format!("{} is not a P-384 private key", args.key.display()))?;
    if key.public_key_der() != cert.public_key_der() {
        bail!(
            "{} is not the key of {}",
            args.key.display(),
            args.cert.display()
        );
    }
    let gov = Gov {
        client: ClientConfig::new(args.address, &service, Some((&cert, &key)))?,
        member: Member { cert, key },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let writes = matches!(
        args.cmd,
        GovCmd::Propose { .. }
            | GovCmd::Vote { .. }
            | GovCmd::Withdraw { .. }
            | GovCmd::Ack
            | GovCmd::Share {
                cmd: ShareCmd::Submit { .. }
            }
    );
    if let GovCmd::Share {
        cmd: ShareCmd::Fetch { enc_key },
    } = &args.cmd
    {
        use base64::Engine;
        let (encrypted, share) = rt.block_on(my_share(&gov, &read(enc_key)?))?;
        println!(
            "{}",
            base64::engine::general_purpose::STANDARD.encode(&encrypted)
        );
        eprintln!(
            "the share decrypts with {} ({} bytes); it is not shown",
            enc_key.display(),
            share.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let r = rt.block_on(async {
        Ok::<_, anyhow::Error>(match args.cmd {
            GovCmd::Propose { proposal } => {
                let p = read(&proposal)?;
                serde_json::from_str::<serde_json::Value>(&p)
                    .with_context(|| format!("{} is not JSON", proposal.display()))?;
                gov.propose(&p).await?
            }
            GovCmd::Vote {
                proposal_id,
                accept,
                ballot,
                ..
            } => match ballot {
                Some(b) => gov.ballot(&proposal_id, &read(&b)?).await?,
                None => gov.vote(&proposal_id, accept).await?,
            },
            GovCmd::Withdraw { proposal_id } => gov.withdraw(&proposal_id).await?,
            GovCmd::Status { proposal_id } => match proposal_id {
                Some(id) => gov.get(&format!("/gov/members/proposals/{id}")).await?,
                None => gov.get("/gov/members/proposals").await?,
            },
            GovCmd::Ack => gov.activate().await?,
            GovCmd::Members => gov.get("/gov/service/members").await?,
            GovCmd::Users => gov.get("/gov/service/users").await?,
            GovCmd::Nodes => gov.get("/gov/service/nodes").await?,
            GovCmd::Constitution => gov.get("/gov/service/constitution").await?,
            GovCmd::Share { cmd } => match cmd {
                ShareCmd::Fetch { .. } => unreachable!("handled above"),
                ShareCmd::Submit { enc_key } => {
                    let (_, share) = my_share(&gov, &read(&enc_key)?).await?;
                    gov.submit_share(&share).await?
                }
            },
        })
    })?;
    let code = show(&r)?;
    if writes && code == ExitCode::SUCCESS {
        // A governance change is durable once committed: wait for it, as users expect.
        if let Some(txid) = &r.txid {
            let status = rt.block_on(wait_committed(&gov, txid))?;
            eprintln!("transaction {txid}: {status}");
            if status != "Committed" {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(code)
}

/// Poll `/node/tx` until `txid` is Committed or Invalid (or 30 s pass).
async fn wait_committed(gov: &Gov, txid: &str) -> Result<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut c = gov.client.connect().await?;
        let r = c.get(&format!("/node/tx?transaction_id={txid}")).await?;
        let status = r.json()?["status"]
            .as_str()
            .unwrap_or("Unknown")
            .to_string();
        if status == "Committed" || status == "Invalid" || std::time::Instant::now() > deadline {
            return Ok(status);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
