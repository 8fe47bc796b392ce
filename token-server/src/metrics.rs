//! `/metrics` of `serve`: fetches served, refusals by reason, answers while the file was
//! still missing.

use prometheus::{Encoder as _, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::policy::Refusal;

pub struct Metrics {
    registry: Registry,
    pub fetches: IntCounter,
    refused: Vec<(Refusal, IntCounter)>,
    pub not_ready: IntCounter,
    pub token_present: IntGauge,
    pub connections_dropped: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let fetches = IntCounter::new(
            "token_server_fetches_total",
            "Tokens served (200 answers on /node-token)",
        )?;
        let refused_vec = IntCounterVec::new(
            Opts::new(
                "token_server_refused_total",
                "Requests refused, by reason (the reason's status is fixed: see README)",
            ),
            &["reason"],
        )?;
        let not_ready = IntCounter::new(
            "token_server_not_ready_total",
            "Token requests answered 503 because the token file held no token yet",
        )?;
        let token_present = IntGauge::new(
            "token_server_token_present",
            "1 when the last read of the token file found a complete token",
        )?;
        let connections_dropped = IntCounter::new(
            "token_server_connections_dropped_total",
            "Connections closed unanswered because their pool of open connections was full",
        )?;
        registry.register(Box::new(fetches.clone()))?;
        registry.register(Box::new(connections_dropped.clone()))?;
        registry.register(Box::new(refused_vec.clone()))?;
        registry.register(Box::new(not_ready.clone()))?;
        registry.register(Box::new(token_present.clone()))?;
        // Every reason is exported from the start, at 0, so a dashboard sees the series.
        let refused = Refusal::ALL
            .iter()
            .map(|r| (*r, refused_vec.with_label_values(&[r.label()])))
            .collect();
        Ok(Self {
            registry,
            fetches,
            refused,
            not_ready,
            token_present,
            connections_dropped,
        })
    }

    pub fn refused(&self, reason: Refusal) {
        if let Some((_, counter)) = self.refused.iter().find(|(r, _)| *r == reason) {
            counter.inc();
        }
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2048);
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
