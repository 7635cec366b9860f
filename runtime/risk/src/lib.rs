//! Pre-trade risk checks: turns order intents into RiskApproved orders or named rejections.
