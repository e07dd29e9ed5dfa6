//! Benchmark output: one JSON object per line, `{"bench", "metric", "value", "unit"}` plus
//! optional context fields; and process CPU and memory readings.

use serde_json::{Value, json};

/// Prints one measurement.
pub fn emit(bench: &str, metric: &str, value: f64, unit: &str, extra: Value) {
    let mut v = json!({"bench": bench, "metric": metric, "value": (value * 1000.0).round() / 1000.0, "unit": unit});
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            m.insert(k.clone(), x.clone());
        }
    }
    println!("{v}");
}

/// Emits the throughput of a ceiling benchmark (`bench`): `got` bytes of `sent` arrived in
/// `secs` seconds while the process used `cpu` CPU seconds; fails if bytes were lost.
pub fn emit_ceiling(bench: &str, sent: u64, got: u64, secs: f64, cpu: f64, extra: Value) -> anyhow::Result<()> {
    anyhow::ensure!(got == sent, "sent {sent} bytes, {got} arrived");
    let gib = got as f64 / (1u64 << 30) as f64;
    let mut fields = json!({"bytes": got, "seconds": secs, "cpu_cores": cpu / secs, "core_seconds_per_gib": cpu / gib});
    if let (Some(m), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    emit(bench, "throughput", got as f64 / secs / (1u64 << 20) as f64, "MiB/s", fields);
    Ok(())
}

/// User + system CPU seconds of this process (from /proc/self/stat, 100 ticks per second).
pub fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some((_, rest)) = s.rsplit_once(')') else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of this process in MiB.
/// This process's resident memory now, in MiB (`VmRSS`).
pub fn rss_mib() -> f64 {
    status_kib("VmRSS:") / 1024.0
}

/// Samples [`rss_mib`] every 20 ms on a thread until the returned guard is stopped; the
/// highest sample is the memory a phase needed, without the peaks of earlier phases.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub fn start() -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max = rss_mib();
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(rss_mib());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            max
        });
        RssSampler { stop, thread }
    }

    /// The highest sample.
    pub fn stop(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0.0)
    }
}

fn status_kib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0.0)
}

pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}
