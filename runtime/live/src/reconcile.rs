//! Start-up reconciliation with the venue. The venue is the source of truth
//! for what happened while the runtime was down: every order the journal
//! left open is looked up there by its intent id — found: the venue's state
//! and missed fills are adopted (fills reach the strategy's `on-fill`,
//! cancels and expiries its `on-reject` with the reason); confirmed absent:
//! marked never-sent (the strategy gets `on-reject` and decides whether to
//! try again, with a new intent) — and then the account's positions and cash
//! are compared. The in-process paper broker restarted with the runtime: its
//! books were resumed from the journal, its working orders are gone, so they
//! are cancelled here and each strategy is told through `on-reject`. Every
//! difference is journaled and published. The trading gate opens only when
//! the positions and cash agree; a mismatch keeps it closed (the account is
//! halted) and says why. The whole sequence is in docs/durability.md.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtrade_broker::{Execution, VenueReport};
use wasmtrade_model::{BrokerEvent, Fill, InstrumentId, OrderId, OrderStatus, Quantity};
use wasmtrade_store::{Difference, DifferenceKind, JournalRecord};

use crate::core::Core;
use crate::event::EventKind;

/// How the venue remembers orders across a runtime restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VenueMemory {
    /// An in-process paper broker: it restarted with the runtime. Its books
    /// (positions, cash, execution ids) were resumed from the journal; its
    /// working orders died with the process.
    Restarted,
    /// A venue that outlives the runtime (the paper venue, IB).
    Kept,
}

/// What a strategy is told about its order that died with the in-process
/// paper broker.
pub(crate) const RESTARTED_REASON: &str = "cancelled at start-up: the in-process paper broker restarted with the runtime and its working orders are gone; send a new order to try again";

/// What reconciliation found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileOutcome {
    /// Open orders looked up at the venue.
    pub looked_up: usize,
    /// Orders whose venue state was adopted.
    pub adopted: usize,
    /// Fills that happened while the runtime was down (or were not journaled).
    pub missed_fills: usize,
    /// Orders the venue confirmed it never received.
    pub never_sent: usize,
    /// Everything that differed.
    pub differences: Vec<String>,
    /// Positions and cash agree: the trading gate may open.
    pub agreed: bool,
}

impl Core {
    /// Reconciles with the venue (see the module docs).
    pub(crate) fn reconcile(&mut self, memory: VenueMemory, timeout: Duration) -> ReconcileOutcome {
        let mut out = ReconcileOutcome::default();
        let open: Vec<OrderId> = self.engine.oms().working_orders().map(|o| o.id).collect();
        out.looked_up = open.len();
        if memory == VenueMemory::Restarted {
            for &id in &open {
                self.difference(
                    &mut out,
                    DifferenceKind::NotFound,
                    Some(id),
                    None,
                    "working",
                    "unknown",
                    "the in-process paper broker restarted with the runtime: its working orders are gone; cancelled and the strategy told",
                );
                let ts = self.now();
                self.engine
                    .end_reconciled(BrokerEvent::Cancelled { order_id: id, ts }, RESTARTED_REASON);
            }
        }
        let report = match self.engine.broker_mut().report(&open, timeout) {
            Ok(r) => r,
            Err(e) => {
                out.differences.push(format!("the venue could not be asked: {e}"));
                return out;
            }
        };
        self.adopt_executions(&report, &mut out);
        self.adopt_orders(&report, &open, &mut out);
        out.agreed = self.compare_account(&report, &mut out);
        out
    }

    fn adopt(&mut self, event: BrokerEvent) {
        self.engine.apply_reconciled(event);
    }

    #[allow(clippy::too_many_arguments)]
    fn difference(
        &mut self,
        out: &mut ReconcileOutcome,
        kind: DifferenceKind,
        order_id: Option<OrderId>,
        instrument: Option<InstrumentId>,
        local: &str,
        broker: &str,
        resolution: &str,
    ) {
        let d = Difference {
            ts: self.now(),
            kind,
            order_id,
            instrument,
            local: local.to_string(),
            broker: broker.to_string(),
            resolution: resolution.to_string(),
        };
        let text = format!(
            "{kind:?}{}{}: local {local}, venue {broker}: {resolution}",
            order_id.map(|o| format!(" order {o}")).unwrap_or_default(),
            instrument.map(|i| format!(" instrument {i}")).unwrap_or_default(),
        );
        tracing::warn!("reconciliation: {text}");
        if let Err(e) = self.store.journal().append(&JournalRecord::Reconciliation(d)) {
            tracing::error!("cannot journal a reconciliation difference: {e}");
        }
        self.bus
            .publish(self.now(), EventKind::Reconciliation { detail: text.clone() });
        out.differences.push(text);
    }

    /// Fills the venue has and we do not.
    fn adopt_executions(&mut self, report: &VenueReport, out: &mut ReconcileOutcome) {
        let known: BTreeSet<String> = self
            .engine
            .oms()
            .fills()
            .iter()
            .map(|f| f.exec_id.clone())
            .collect();
        let missing: Vec<&Execution> = report
            .executions
            .iter()
            .filter(|e| !known.contains(&e.exec_id))
            .collect();
        for e in missing {
            let Some(order) = self.engine.oms().order(e.order_id).cloned() else {
                if self.compactor.as_ref().is_some_and(|c| c.released(e.order_id)) {
                    // Finished, durable and released from memory: its
                    // executions were applied before it finished.
                    continue;
                }
                self.difference(
                    out,
                    DifferenceKind::ExternalOrder,
                    Some(e.order_id),
                    Some(e.instrument),
                    "no such order",
                    &format!("execution {} of {} at {}", e.exec_id, e.quantity, e.price),
                    "not ours: left to the operator",
                );
                continue;
            };
            self.difference(
                out,
                DifferenceKind::MissedFill,
                Some(e.order_id),
                Some(e.instrument),
                "no fill",
                &format!("{} {} at {} ({})", e.side, e.quantity, e.price, e.exec_id),
                "adopted",
            );
            out.missed_fills += 1;
            self.adopt(BrokerEvent::Filled(Fill {
                order_id: e.order_id,
                strategy: order.strategy.clone(),
                client_id: order.request.client_id.clone(),
                instrument: e.instrument,
                side: e.side,
                quantity: e.quantity,
                price: e.price,
                commission: e.commission,
                ts: e.ts,
                exec_id: e.exec_id.clone(),
            }));
        }
    }

    /// The venue's status of every order we left open.
    fn adopt_orders(&mut self, report: &VenueReport, open: &[OrderId], out: &mut ReconcileOutcome) {
        let venue: BTreeMap<OrderId, _> = report.orders.iter().map(|o| (o.id, o)).collect();
        for &id in open {
            let Some(local) = self.engine.oms().order(id).map(|o| o.status) else {
                continue;
            };
            if local.is_terminal() {
                continue; // settled by an adopted fill
            }
            let now = self.now();
            match venue.get(&id) {
                None if report.complete => {
                    out.never_sent += 1;
                    let reason = format!(
                        "never sent: the venue has no order {id} (the runtime stopped between journaling the intent and sending it); send a new intent to try again"
                    );
                    if let Err(e) = self.store.journal().append(&JournalRecord::NeverSent {
                        order_id: id,
                        ts: now,
                        reason: reason.clone(),
                    }) {
                        tracing::error!("cannot journal never-sent {id}: {e}");
                    }
                    self.difference(
                        out,
                        DifferenceKind::NotFound,
                        Some(id),
                        None,
                        &format!("{local:?}"),
                        "absent",
                        "marked never-sent",
                    );
                    self.adopt(BrokerEvent::Rejected {
                        order_id: id,
                        reason,
                        ts: now,
                    });
                }
                None => {
                    self.difference(
                        out,
                        DifferenceKind::NotFound,
                        Some(id),
                        None,
                        &format!("{local:?}"),
                        "not reported",
                        "unknown: the venue could not answer for it; left open",
                    );
                }
                Some(v) => {
                    out.adopted += 1;
                    let event = match v.status {
                        OrderStatus::Cancelled | OrderStatus::Expired => {
                            let (event, reason) = if v.status == OrderStatus::Cancelled {
                                (
                                    BrokerEvent::Cancelled {
                                        order_id: id,
                                        ts: now,
                                    },
                                    "cancelled at the venue while the runtime was down",
                                )
                            } else {
                                (
                                    BrokerEvent::Expired {
                                        order_id: id,
                                        ts: now,
                                    },
                                    "expired at the venue while the runtime was down",
                                )
                            };
                            self.difference(
                                out,
                                DifferenceKind::StatusMismatch,
                                Some(id),
                                None,
                                &format!("{local:?}"),
                                &format!("{:?}", v.status),
                                "adopted; the strategy told",
                            );
                            self.engine.end_reconciled(event, reason);
                            None
                        }
                        OrderStatus::Rejected => Some(BrokerEvent::Rejected {
                            order_id: id,
                            reason: v.reason.clone().unwrap_or_else(|| "rejected by the venue".into()),
                            ts: now,
                        }),
                        _ if local == OrderStatus::PendingNew => Some(BrokerEvent::Accepted {
                            order_id: id,
                            ts: now,
                        }),
                        _ => None,
                    };
                    if let Some(event) = event {
                        let (venue_status, local_status) = (format!("{:?}", v.status), format!("{local:?}"));
                        self.difference(
                            out,
                            DifferenceKind::StatusMismatch,
                            Some(id),
                            None,
                            &local_status,
                            &venue_status,
                            "adopted",
                        );
                        self.adopt(event);
                    }
                }
            }
        }
    }

    /// Positions and cash against the venue's; true if they agree.
    fn compare_account(&mut self, report: &VenueReport, out: &mut ReconcileOutcome) -> bool {
        let mut ours: BTreeMap<InstrumentId, Quantity> = BTreeMap::new();
        for (_, p) in self.engine.oms().positions() {
            let q = ours.entry(p.instrument).or_default();
            *q += p.quantity;
        }
        ours.retain(|_, q| *q != Quantity::ZERO);
        let mut theirs = report.positions.clone();
        theirs.retain(|_, q| *q != Quantity::ZERO);
        let mut agreed = true;
        let instruments: BTreeSet<InstrumentId> = ours.keys().chain(theirs.keys()).copied().collect();
        for i in instruments {
            let (a, b) = (
                ours.get(&i).copied().unwrap_or_default(),
                theirs.get(&i).copied().unwrap_or_default(),
            );
            if a != b {
                agreed = false;
                self.difference(
                    out,
                    DifferenceKind::PositionMismatch,
                    None,
                    Some(i),
                    &a.to_string(),
                    &b.to_string(),
                    "account halted: trading stays off until an operator re-enables it",
                );
            }
        }
        if let Some(cash) = report.cash {
            let local = self.engine.oms().cash();
            if local != cash {
                agreed = false;
                self.difference(
                    out,
                    DifferenceKind::CashMismatch,
                    None,
                    None,
                    &local.to_string(),
                    &cash.to_string(),
                    "account halted: trading stays off until an operator re-enables it",
                );
            }
        }
        agreed
    }
}
