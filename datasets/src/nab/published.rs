//! NAB's published per-file results for its windowed-Gaussian baseline, and a check that scores
//! our replay of the same detector with our scorer, file by file, against them.
//!
//! The figures are NAB's `results/windowedGaussian/*_scores.csv` of the release whose corpus
//! totals give the published 39.6 (standard) and 20.9 (reward_low_FP_rate), at NAB's optimised
//! threshold 1.0. Only files present in the corpus being checked are compared.
//!
//! NAB wrote those scores with Python 2's `str(float)`, 12 significant digits, and scored what
//! it had written: every score within 5e-13 of 1 became exactly 1.0, which is what its
//! threshold 1.0 selects. The check rounds our scores the same way before scoring them.

use serde::Serialize;

use super::FileRun;
use super::scorer::{PROFILES, normalise, score_at, sweep_file};

/// One file's published windowed-Gaussian result at threshold 1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishedFile {
    /// `category/file.csv`.
    pub key: &'static str,
    /// Raw standard-profile score.
    pub standard: f64,
    /// Raw reward_low_FP_rate score.
    pub low_fp: f64,
    /// Detections inside windows (rows at or over the threshold).
    pub tp: usize,
    /// Detections outside windows after the probationary period.
    pub fp: usize,
}

/// The threshold NAB's optimiser chose for the windowed Gaussian (standard and low-FP profiles).
pub const PUBLISHED_THRESHOLD: f64 = 1.0;

/// NAB's full-corpus normalised scores of the windowed Gaussian: standard, low FP, low FN.
pub const PUBLISHED_CORPUS_SCORES: [f64; 3] = [39.6, 20.9, 47.4];

/// NAB's published per-file windowed-Gaussian results (all 58 files of NAB 1.0).
pub const WINDOWED_GAUSSIAN: &[PublishedFile] = &[
    PublishedFile {
        key: "artificialNoAnomaly/art_daily_no_noise.csv",
        standard: 0.0,
        low_fp: 0.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialNoAnomaly/art_daily_perfect_square_wave.csv",
        standard: 0.0,
        low_fp: 0.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialNoAnomaly/art_daily_small_noise.csv",
        standard: 0.0,
        low_fp: 0.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialNoAnomaly/art_flatline.csv",
        standard: 0.0,
        low_fp: 0.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialNoAnomaly/art_noisy.csv",
        standard: 0.0,
        low_fp: 0.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialWithAnomaly/art_daily_flatmiddle.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialWithAnomaly/art_daily_jumpsdown.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialWithAnomaly/art_daily_jumpsup.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialWithAnomaly/art_daily_nojump.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialWithAnomaly/art_increase_spike_density.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "artificialWithAnomaly/art_load_balancer_spikes.csv",
        standard: -0.692444609523,
        low_fp: -2.34244460952,
        tp: 18,
        fp: 15,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
        standard: -1.26667875935,
        low_fp: -2.39490832077,
        tp: 2,
        fp: 11,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
        standard: -0.141423196117,
        low_fp: -0.471217560129,
        tp: 2,
        fp: 3,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
        standard: -2.0,
        low_fp: -2.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
        standard: 0.956537840284,
        low_fp: 0.956537840284,
        tp: 36,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv",
        standard: 0.86067182427,
        low_fp: 0.86067182427,
        tp: 25,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
        standard: -1.32,
        low_fp: -2.64,
        tp: 0,
        fp: 12,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
        standard: 0.638757791772,
        low_fp: 0.528757791772,
        tp: 6,
        fp: 1,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv",
        standard: -4.19089678552,
        low_fp: -9.31619217025,
        tp: 9,
        fp: 48,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv",
        standard: -1.09599853032,
        low_fp: -3.0909727984,
        tp: 13,
        fp: 19,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_network_in_257a54.csv",
        standard: 0.86067182427,
        low_fp: 0.86067182427,
        tp: 4,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/ec2_network_in_5abac7.csv",
        standard: -3.52193223519,
        low_fp: -8.9750563904,
        tp: 19,
        fp: 50,
    },
    PublishedFile {
        key: "realAWSCloudwatch/elb_request_count_8c0756.csv",
        standard: -0.138449197924,
        low_fp: -0.138449197924,
        tp: 1,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/grok_asg_anomaly.csv",
        standard: 2.37942230674,
        low_fp: 2.04942230674,
        tp: 69,
        fp: 3,
    },
    PublishedFile {
        key: "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
        standard: -2.0,
        low_fp: -2.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
        standard: -0.138449197924,
        low_fp: -0.138449197924,
        tp: 50,
        fp: 0,
    },
    PublishedFile {
        key: "realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
        standard: -0.138449197924,
        low_fp: -0.138449197924,
        tp: 2,
        fp: 0,
    },
    PublishedFile {
        key: "realAdExchange/exchange-2_cpc_results.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realAdExchange/exchange-2_cpm_results.csv",
        standard: -2.0,
        low_fp: -2.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realAdExchange/exchange-3_cpc_results.csv",
        standard: 2.50266326119,
        low_fp: 2.39266475507,
        tp: 5,
        fp: 1,
    },
    PublishedFile {
        key: "realAdExchange/exchange-3_cpm_results.csv",
        standard: 0.862098587352,
        low_fp: 0.862098587352,
        tp: 1,
        fp: 0,
    },
    PublishedFile {
        key: "realAdExchange/exchange-4_cpc_results.csv",
        standard: 0.292288463428,
        low_fp: -0.147680769569,
        tp: 3,
        fp: 4,
    },
    PublishedFile {
        key: "realAdExchange/exchange-4_cpm_results.csv",
        standard: 1.27471036268,
        low_fp: 0.944710362685,
        tp: 4,
        fp: 3,
    },
    PublishedFile {
        key: "realKnownCause/ambient_temperature_system_failure.csv",
        standard: -2.0,
        low_fp: -2.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
        standard: -1.11,
        low_fp: -1.22,
        tp: 0,
        fp: 1,
    },
    PublishedFile {
        key: "realKnownCause/ec2_request_latency_system_failure.csv",
        standard: 2.02150685678,
        low_fp: 2.02150685678,
        tp: 8,
        fp: 0,
    },
    PublishedFile {
        key: "realKnownCause/machine_temperature_system_failure.csv",
        standard: -4.0,
        low_fp: -4.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realKnownCause/nyc_taxi.csv",
        standard: -5.0,
        low_fp: -5.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realKnownCause/rogue_agent_key_hold.csv",
        standard: -2.44,
        low_fp: -2.88,
        tp: 0,
        fp: 4,
    },
    PublishedFile {
        key: "realKnownCause/rogue_agent_key_updown.csv",
        standard: -1.3964908955,
        low_fp: -2.1748083231,
        tp: 1,
        fp: 8,
    },
    PublishedFile {
        key: "realTraffic/TravelTime_387.csv",
        standard: -1.79598133079,
        low_fp: -2.45598133079,
        tp: 1,
        fp: 6,
    },
    PublishedFile {
        key: "realTraffic/TravelTime_451.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realTraffic/occupancy_6005.csv",
        standard: -1.0,
        low_fp: -1.0,
        tp: 0,
        fp: 0,
    },
    PublishedFile {
        key: "realTraffic/occupancy_t4013.csv",
        standard: 1.72522152023,
        low_fp: 1.72522152023,
        tp: 3,
        fp: 0,
    },
    PublishedFile {
        key: "realTraffic/speed_6005.csv",
        standard: 0.832538201468,
        low_fp: 0.832538201468,
        tp: 1,
        fp: 0,
    },
    PublishedFile {
        key: "realTraffic/speed_7578.csv",
        standard: 3.47059145681,
        low_fp: 3.36059145681,
        tp: 11,
        fp: 1,
    },
    PublishedFile {
        key: "realTraffic/speed_t4013.csv",
        standard: 1.76631783122,
        low_fp: 1.76631783122,
        tp: 14,
        fp: 0,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_AAPL.csv",
        standard: 1.51399683626,
        low_fp: -0.818874447425,
        tp: 42,
        fp: 24,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_AMZN.csv",
        standard: 1.55848299457,
        low_fp: -0.492077441917,
        tp: 10,
        fp: 20,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_CRM.csv",
        standard: 0.763845764094,
        low_fp: 0.763845764094,
        tp: 10,
        fp: 0,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_CVS.csv",
        standard: 0.773682061394,
        low_fp: -1.19909218022,
        tp: 22,
        fp: 18,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_FB.csv",
        standard: 0.119750278191,
        low_fp: -1.53024917684,
        tp: 6,
        fp: 15,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_GOOG.csv",
        standard: -0.146777355167,
        low_fp: -1.13677708866,
        tp: 23,
        fp: 9,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_IBM.csv",
        standard: -0.799109479229,
        low_fp: -3.39078756281,
        tp: 14,
        fp: 25,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_KO.csv",
        standard: -0.914196106944,
        low_fp: -4.54309831466,
        tp: 22,
        fp: 33,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_PFE.csv",
        standard: 0.26557999349,
        low_fp: -1.05441789301,
        tp: 7,
        fp: 12,
    },
    PublishedFile {
        key: "realTweets/Twitter_volume_UPS.csv",
        standard: -2.2051646682,
        low_fp: -8.82184583733,
        tp: 57,
        fp: 63,
    },
];

/// Our figures beside the published ones for one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub key: String,
    pub windows: usize,
    pub ours_standard: f64,
    pub published_standard: f64,
    pub ours_low_fp: f64,
    pub published_low_fp: f64,
    pub ours_tp: usize,
    pub published_tp: usize,
    pub ours_fp: usize,
    pub published_fp: usize,
}

impl FileCheck {
    /// Whether both raw scores agree to `tolerance`.
    pub fn matches(&self, tolerance: f64) -> bool {
        (self.ours_standard - self.published_standard).abs() <= tolerance
            && (self.ours_low_fp - self.published_low_fp).abs() <= tolerance
    }
}

/// The comparison over the files present in both.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedCheck {
    pub files: Vec<FileCheck>,
    /// Corpus files with no published row (not compared).
    pub unpublished: Vec<String>,
    pub windows: usize,
    /// Normalised over the compared files, at threshold 1.0: ours and published, standard.
    pub ours_standard: f64,
    pub published_standard: f64,
    /// The same for reward_low_FP_rate.
    pub ours_low_fp: f64,
    pub published_low_fp: f64,
}

impl PublishedCheck {
    /// Files whose raw scores agree with the published ones to `tolerance`.
    pub fn matching(&self, tolerance: f64) -> usize {
        self.files.iter().filter(|f| f.matches(tolerance)).count()
    }

    /// Markdown: the totals, then every file that differs.
    pub fn table(&self) -> String {
        let mut out = format!(
            "## Scorer check: windowed Gaussian vs NAB's published results (threshold {PUBLISHED_THRESHOLD})\n\n\
             {} files compared ({} windows), {} match to 1e-6; not published: {}\n\n\
             | profile | ours (normalised on these files) | published (same files) | published (full NAB corpus) |\n|---|---|---|---|\n\
             | standard | {:.2} | {:.2} | {:.1} |\n| reward_low_FP_rate | {:.2} | {:.2} | {:.1} |\n",
            self.files.len(),
            self.windows,
            self.matching(1e-6),
            self.unpublished.len(),
            self.ours_standard,
            self.published_standard,
            PUBLISHED_CORPUS_SCORES[0],
            self.ours_low_fp,
            self.published_low_fp,
            PUBLISHED_CORPUS_SCORES[1],
        );
        let differing: Vec<&FileCheck> = self.files.iter().filter(|f| !f.matches(1e-6)).collect();
        if !differing.is_empty() {
            out.push_str(
                "\n| file | windows | ours std | published std | ours TP/FP | published TP/FP |\n|---|---|---|---|---|---|\n",
            );
            for f in differing {
                out.push_str(&format!(
                    "| {} | {} | {:.4} | {:.4} | {}/{} | {}/{} |\n",
                    f.key,
                    f.windows,
                    f.ours_standard,
                    f.published_standard,
                    f.ours_tp,
                    f.ours_fp,
                    f.published_tp,
                    f.published_fp
                ));
            }
        }
        out
    }
}

/// A score as NAB's results files hold it: 12 significant digits (Python 2 `str(float)`).
pub fn as_nab_wrote(score: f64) -> f64 {
    format!("{score:.11e}").parse().unwrap_or(score)
}

/// Scores `runs` (a replay of the `windowed_gaussian` detector) at NAB's threshold with our
/// scorer and sets each file beside NAB's published row.
pub fn check_windowed_gaussian(runs: &[FileRun]) -> PublishedCheck {
    let mut check = PublishedCheck {
        files: Vec::new(),
        unpublished: Vec::new(),
        windows: 0,
        ours_standard: 0.0,
        published_standard: 0.0,
        ours_low_fp: 0.0,
        published_low_fp: 0.0,
    };
    let (mut raw_ours, mut raw_published) = ([0.0; 2], [0.0; 2]);
    for run in runs {
        let key = run.file.key();
        let Some(published) = WINDOWED_GAUSSIAN.iter().find(|p| p.key == key) else {
            check.unpublished.push(key);
            continue;
        };
        let mut ours = [(0.0, 0, 0); 2];
        let mut windows = 0;
        let written: Vec<f64> = run.scores.iter().map(|&s| as_nab_wrote(s)).collect();
        for (slot, profile) in ours.iter_mut().zip(&PROFILES[..2]) {
            let (points, n) = sweep_file(&written, &run.file.windows, profile, 0);
            let raw = score_at(&points, n, 0, PUBLISHED_THRESHOLD, profile);
            *slot = (raw.score, raw.in_window, raw.false_positives);
            windows = n;
        }
        raw_ours[0] += ours[0].0;
        raw_ours[1] += ours[1].0;
        raw_published[0] += published.standard;
        raw_published[1] += published.low_fp;
        check.windows += windows;
        check.files.push(FileCheck {
            key,
            windows,
            ours_standard: ours[0].0,
            published_standard: published.standard,
            ours_low_fp: ours[1].0,
            published_low_fp: published.low_fp,
            ours_tp: ours[0].1,
            published_tp: published.tp,
            ours_fp: ours[0].2,
            published_fp: published.fp,
        });
    }
    check.ours_standard = normalise(raw_ours[0], check.windows, &PROFILES[0]);
    check.published_standard = normalise(raw_published[0], check.windows, &PROFILES[0]);
    check.ours_low_fp = normalise(raw_ours[1], check.windows, &PROFILES[1]);
    check.published_low_fp = normalise(raw_published[1], check.windows, &PROFILES[1]);
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_rounded_as_nab_wrote_them() {
        assert_eq!(as_nab_wrote(0.999_999_999_999_9), 1.0);
        assert_eq!(as_nab_wrote(0.999_999_999_99), 0.999_999_999_99);
        assert_eq!(as_nab_wrote(0.123_456_789_012_345), 0.123_456_789_012);
    }

    #[test]
    fn published_rows_normalise_to_the_published_corpus_scores() {
        // NAB 1.0 has 116 windows; its corpus totals must give the published figures.
        let windows = 116;
        let standard: f64 = WINDOWED_GAUSSIAN.iter().map(|p| p.standard).sum();
        let low_fp: f64 = WINDOWED_GAUSSIAN.iter().map(|p| p.low_fp).sum();
        assert_eq!(WINDOWED_GAUSSIAN.len(), 58);
        assert!((normalise(standard, windows, &PROFILES[0]) - 39.6).abs() < 0.05);
        assert!((normalise(low_fp, windows, &PROFILES[1]) - 20.9).abs() < 0.05);
    }
}
