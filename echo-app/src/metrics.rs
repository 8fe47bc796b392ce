//! Prometheus metrics. Every (route, status) pair the server can produce is resolved to its
//! counter once at start, so a request costs a few atomic adds, not a label lookup.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::routes::Route;

/// Latency buckets for a server that answers in microseconds when healthy.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    /// Pre-resolved `requests{route, status}` for the pairs in [`Route::statuses`].
    request_counters: Vec<(Route, u16, IntCounter)>,
    latency: Vec<(Route, Histogram)>,
    pub in_flight: IntGauge,
    pub connections_open: IntGauge,
    pub connections_accepted: IntCounter,
    access_log_dropped: IntCounter,
}

impl Metrics {
    pub fn new(mode: &str, version: &str, echo_status: u16) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "echo_app_http_requests_total",
                "HTTP requests answered, by route and status",
            ),
            &["route", "status"],
        )?;
        let latency_vec = HistogramVec::new(
            HistogramOpts::new(
                "echo_app_http_request_duration_seconds",
                "Time from a parsed request head to its response handed to the connection",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let in_flight = IntGauge::new(
            "echo_app_http_requests_in_flight",
            "Requests being answered now",
        )?;
        let connections_open =
            IntGauge::new("echo_app_connections_open", "Client connections open now")?;
        let connections_accepted = IntCounter::new(
            "echo_app_connections_accepted_total",
            "Client connections accepted",
        )?;
        let access_log_dropped = IntCounter::new(
            "echo_app_access_log_dropped_total",
            "Access-log lines dropped because stdout did not keep up",
        )?;
        let info = IntGaugeVec::new(
            Opts::new(
                "echo_app_info",
                "Which program echo-app stands in for, and its version",
            ),
            &["mode", "version"],
        )?;
        info.with_label_values(&[mode, version]).set(1);

        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency_vec.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(connections_accepted.clone()))?;
        registry.register(Box::new(access_log_dropped.clone()))?;
        registry.register(Box::new(info))?;

        let mut request_counters = Vec::new();
        let mut latency = Vec::new();
        for route in Route::ALL {
            for &status in route.statuses(echo_status) {
                let status_label = status.to_string();
                let counter = requests.with_label_values(&[route.label(), status_label.as_str()]);
                request_counters.push((route, status, counter));
            }
            latency.push((route, latency_vec.with_label_values(&[route.label()])));
        }
        Ok(Self {
            registry,
            requests,
            request_counters,
            latency,
            in_flight,
            connections_open,
            connections_accepted,
            access_log_dropped,
        })
    }

    pub fn observe(&self, route: Route, status: u16, seconds: f64) {
        match self
            .request_counters
            .iter()
            .find(|(r, s, _)| *r == route && *s == status)
        {
            Some((_, _, counter)) => counter.inc(),
            None => {
                let status = status.to_string();
                self.requests
                    .with_label_values(&[route.label(), status.as_str()])
                    .inc();
            }
        }
        if let Some((_, histogram)) = self.latency.iter().find(|(r, _)| *r == route) {
            histogram.observe(seconds);
        }
    }

    /// The text exposition format, with the access-log drop count brought up to date.
    pub fn render(&self, access_log_dropped: u64) -> Vec<u8> {
        let seen = self.access_log_dropped.get();
        if access_log_dropped > seen {
            self.access_log_dropped.inc_by(access_log_dropped - seen);
        }
        let mut out = Vec::with_capacity(4096);
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
