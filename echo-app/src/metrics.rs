//! Prometheus metrics, counted without contention.
//!
//! Per-request figures (requests by route and status, the latency histogram, requests in
//! flight) live in per-thread shards of plain atomics and are summed when `/metrics` is
//! scraped: a worker only ever touches its own cache lines. Shared counters made the two
//! workers fight over the same lines on every request, which doubled the p99 under load
//! (measured with wrk: 0.8 ms without metrics, 1.5 ms with the prometheus crate's own
//! counters and histogram). Connection figures change once per connection and use the
//! prometheus crate's types directly.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::routes::Route;

/// Latency buckets (seconds) for a server that answers in microseconds when healthy.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];
/// More shards than worker threads on any machine echo-app is sized for; threads beyond
/// share shards (still exact, merely contended).
const SHARDS: usize = 16;
const ROUTES: usize = Route::ALL.len();
/// Every (route, status) pair a route can answer with (see `Route::statuses`).
const MAX_PAIRS: usize = 16;

const REQUESTS: &str = "echo_app_http_requests_total";
const DURATION: &str = "echo_app_http_request_duration_seconds";
const IN_FLIGHT: &str = "echo_app_http_requests_in_flight";

/// One thread's counts, on cache lines of its own.
#[repr(align(128))]
struct Shard {
    requests: [AtomicU64; MAX_PAIRS],
    /// Per route: one count per bucket, plus the overflow (+Inf) bucket last.
    buckets: [[AtomicU64; LATENCY_BUCKETS.len() + 1]; ROUTES],
    sum_nanos: [AtomicU64; ROUTES],
    in_flight: AtomicI64,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            sum_nanos: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicI64::new(0),
        }
    }
}

thread_local! {
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// This thread's shard index, assigned round-robin on first use.
fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SLOT.with(|slot| match slot.get() {
        Some(i) => i,
        None => {
            let i = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            slot.set(Some(i));
            i
        }
    })
}

fn route_index(route: Route) -> usize {
    Route::ALL.iter().position(|r| *r == route).unwrap_or(0)
}

/// The per-request figures, as one prometheus collector.
struct RequestMetrics {
    shards: Box<[Shard]>,
    /// The (route, status) of each slot of `Shard::requests`.
    pairs: Vec<(Route, u16)>,
    descs: Vec<Desc>,
}

impl RequestMetrics {
    fn new(echo_status: u16) -> Result<RequestMetrics, prometheus::Error> {
        let pairs: Vec<(Route, u16)> = Route::ALL
            .iter()
            .flat_map(|&route| {
                route
                    .statuses(echo_status)
                    .into_iter()
                    .map(move |s| (route, s))
            })
            .collect();
        if pairs.len() > MAX_PAIRS {
            return Err(prometheus::Error::Msg(format!(
                "{} route/status pairs",
                pairs.len()
            )));
        }
        let descs = vec![
            Desc::new(
                REQUESTS.into(),
                "HTTP requests answered, by route and status".into(),
                vec!["route".into(), "status".into()],
                Default::default(),
            )?,
            Desc::new(
                DURATION.into(),
                "Time from a parsed request head to its response handed to the connection".into(),
                vec!["route".into()],
                Default::default(),
            )?,
            Desc::new(
                IN_FLIGHT.into(),
                "Requests being answered now".into(),
                vec![],
                Default::default(),
            )?,
        ];
        Ok(RequestMetrics {
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
            pairs,
            descs,
        })
    }

    fn shard(&self) -> &Shard {
        &self.shards[slot()]
    }

    fn sum(&self, f: impl Fn(&Shard) -> u64) -> u64 {
        self.shards.iter().map(f).sum()
    }
}

fn label(name: &str, value: &str) -> proto::LabelPair {
    let mut pair = proto::LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    *family.mut_metric() = metrics;
    family
}

impl Collector for RequestMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let requests = self
            .pairs
            .iter()
            .enumerate()
            .map(|(i, (route, status))| {
                let mut counter = proto::Counter::default();
                counter.set_value(self.sum(|s| s.requests[i].load(Ordering::Relaxed)) as f64);
                let mut metric = proto::Metric::from_label(vec![
                    label("route", route.label()),
                    label("status", &status.to_string()),
                ]);
                metric.set_counter(counter);
                metric
            })
            .collect();
        let durations = Route::ALL
            .iter()
            .enumerate()
            .map(|(r, route)| {
                let mut cumulative = 0;
                let buckets = LATENCY_BUCKETS
                    .iter()
                    .enumerate()
                    .map(|(b, bound)| {
                        cumulative += self.sum(|s| s.buckets[r][b].load(Ordering::Relaxed));
                        let mut bucket = proto::Bucket::default();
                        bucket.set_upper_bound(*bound);
                        bucket.set_cumulative_count(cumulative);
                        bucket
                    })
                    .collect();
                let overflow =
                    self.sum(|s| s.buckets[r][LATENCY_BUCKETS.len()].load(Ordering::Relaxed));
                let mut histogram = proto::Histogram::default();
                histogram.set_bucket(buckets);
                histogram.set_sample_count(cumulative + overflow);
                histogram.set_sample_sum(
                    self.sum(|s| s.sum_nanos[r].load(Ordering::Relaxed)) as f64 / 1e9,
                );
                let mut metric = proto::Metric::from_label(vec![label("route", route.label())]);
                metric.set_histogram(histogram);
                metric
            })
            .collect();
        let mut gauge = proto::Gauge::default();
        let in_flight: i64 = self
            .shards
            .iter()
            .map(|s| s.in_flight.load(Ordering::Relaxed))
            .sum();
        gauge.set_value(in_flight as f64);
        vec![
            family(
                REQUESTS,
                self.descs[0].help.as_str(),
                MetricType::COUNTER,
                requests,
            ),
            family(
                DURATION,
                self.descs[1].help.as_str(),
                MetricType::HISTOGRAM,
                durations,
            ),
            family(
                IN_FLIGHT,
                self.descs[2].help.as_str(),
                MetricType::GAUGE,
                vec![proto::Metric::from_gauge(gauge)],
            ),
        ]
    }
}

/// Handles to every metric of the process; `requests` is shared with the registry.
pub struct Metrics {
    registry: Registry,
    requests: std::sync::Arc<RequestMetrics>,
    pub connections_open: IntGauge,
    pub connections_accepted: IntCounter,
    access_log_dropped: IntCounter,
}

/// Lets the registry own a collector that the server keeps using too.
struct Shared(std::sync::Arc<RequestMetrics>);

impl Collector for Shared {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

impl Metrics {
    pub fn new(mode: &str, version: &str, echo_status: u16) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = std::sync::Arc::new(RequestMetrics::new(echo_status)?);
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
        registry.register(Box::new(Shared(requests.clone())))?;
        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(connections_accepted.clone()))?;
        registry.register(Box::new(access_log_dropped.clone()))?;
        registry.register(Box::new(info))?;
        Ok(Self {
            registry,
            requests,
            connections_open,
            connections_accepted,
            access_log_dropped,
        })
    }

    /// A request has started being answered.
    pub fn begin(&self) {
        self.requests
            .shard()
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request is done: counted by route and status, its latency observed.
    pub fn finish(&self, route: Route, status: u16, elapsed: std::time::Duration) {
        let shard = self.requests.shard();
        shard.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(i) = self
            .requests
            .pairs
            .iter()
            .position(|p| *p == (route, status))
        {
            shard.requests[i].fetch_add(1, Ordering::Relaxed);
        }
        let r = route_index(route);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        shard.buckets[r][bucket].fetch_add(1, Ordering::Relaxed);
        shard.sum_nanos[r].fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
    }

    #[test]
    fn counts_from_many_threads_add_up_at_scrape() {
        let metrics = std::sync::Arc::new(Metrics::new("http-echo", "0.1.0", 418).unwrap());
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let m = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.begin();
                        m.finish(Route::Echo, 418, Duration::from_micros(70));
                    }
                    m.begin();
                    m.finish(Route::Readyz, 503, Duration::from_millis(2));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = String::from_utf8(metrics.render(0)).unwrap();
        assert_eq!(
            line(
                &text,
                "echo_app_http_requests_total{route=\"echo\",status=\"418\"}"
            ),
            Some("20000")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_requests_total{route=\"readyz\",status=\"503\"}"
            ),
            Some("20")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_requests_total{route=\"readyz\",status=\"200\"}"
            ),
            Some("0")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_bucket{route=\"echo\",le=\"0.00005\"}"
            ),
            Some("0")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_bucket{route=\"echo\",le=\"0.0001\"}"
            ),
            Some("20000")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_bucket{route=\"echo\",le=\"+Inf\"}"
            ),
            Some("20000")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_count{route=\"readyz\"}"
            ),
            Some("20")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_sum{route=\"echo\"}"
            ),
            Some("1.4")
        );
        assert_eq!(line(&text, "echo_app_http_requests_in_flight"), Some("0"));
        assert!(text.contains("# TYPE echo_app_http_request_duration_seconds histogram"));
        assert!(text.contains("# TYPE echo_app_http_requests_total counter"));
    }

    #[test]
    fn a_slow_request_lands_in_the_overflow_bucket() {
        let metrics = Metrics::new("playground", "v1", 200).unwrap();
        metrics.begin();
        metrics.finish(Route::Root, 200, Duration::from_secs(2));
        let text = String::from_utf8(metrics.render(0)).unwrap();
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_bucket{route=\"root\",le=\"0.5\"}"
            ),
            Some("0")
        );
        assert_eq!(
            line(
                &text,
                "echo_app_http_request_duration_seconds_count{route=\"root\"}"
            ),
            Some("1")
        );
    }
}
