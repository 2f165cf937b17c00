//! Receipts for committed transactions, with CCF's errors.

use consort_kv::TxId;
use consort_ledger::{journal::TxStatus, LedgerError, Receipt};
use http::StatusCode;

use crate::{api::ApiError, context::LedgerView};

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
