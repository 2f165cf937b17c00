//! Receipts for committed transactions, with CCF's errors.

use consort_kv::TxId;
use consort_ledger::{journal::TxStatus, LedgerError, Receipt};
use http::StatusCode;

use crate::{api::ApiError, context::LedgerView};

/// [`receipt_for`], with the endorsements that chain its node certificate to today's
/// service identity when `txid` was signed by an earlier (recovered) service: for each
/// recovery since, the certificate by which the recovered service endorses the one before
/// it, oldest first (CCF's `service_endorsements`).
pub fn receipt_in(
    tx: &mut consort_kv::Tx,
    ledger: &dyn LedgerView,
    txid: TxId,
) -> Result<Receipt, ApiError> {
    use consort_service::recovery::{endorsement_key, SERVICE_ENDORSEMENTS};
    let mut r = receipt_for(ledger, txid)?;
    let after = endorsement_key(txid.seqno);
    r.service_endorsements = SERVICE_ENDORSEMENTS
        .entries(tx)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .into_iter()
        .filter(|(k, _)| *k > after)
        .map(|(_, pem)| pem)
        .collect();
    Ok(r)
}

/// A receipt for `txid`, or CCF's errors for pending, unknown and invalid ids.
pub fn receipt_for(ledger: &dyn LedgerView, txid: TxId) -> Result<Receipt, ApiError> {
    match ledger.tx_status(txid) {
        TxStatus::Committed => {}
        TxStatus::Invalid => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "TransactionInvalid",
                format!("Transaction {txid} is invalid."),
            ))
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "TransactionPendingOrUnknown",
                format!("Transaction {txid} is not committed yet."),
            ))
        }
    }
    ledger.receipt(txid.seqno).map_err(|e| match e {
        LedgerError::NotSigned(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "TransactionPendingOrUnknown",
            format!("No signature covers {txid} yet."),
        ),
        e => ApiError::internal(format!("cannot build receipt: {e}")),
    })
}
