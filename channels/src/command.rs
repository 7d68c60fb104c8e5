//! The chat commands, parsed from what an operator types (Telegram, Slack's slash command,
//! `POST /api/v1/chat`), each with the operation it is authorized as.
//!
//! Approval is only ever an explicit `approve <id>` (or a button); nothing else parses as one,
//! so conversation can never approve.

use app::Operation;
use std::time::Duration;

/// The longest command line read; longer is refused before parsing.
pub const MAX_COMMAND_LEN: usize = 1_000;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    WhatHappened {
        incident: Option<String>,
    },
    Why {
        verb: String,
        target: String,
    },
    ShowEvidence {
        incident: String,
    },
    Approve {
        approval: String,
    },
    Reject {
        approval: String,
        reason: Option<String>,
    },
    Pause,
    Resume,
    Silence {
        incident: String,
        duration: Duration,
    },
    Help,
}

impl Command {
    /// The operation the command runs as; the caller is authorized against it.
    pub fn operation(&self) -> Operation {
        match self {
            Command::Status | Command::Help => Operation::Status,
            Command::WhatHappened { incident: None } => Operation::ListIncidents,
            Command::WhatHappened { incident: Some(_) } | Command::ShowEvidence { .. } => {
                Operation::GetIncident
            }
            Command::Why { .. } => Operation::ListActions,
            Command::Approve { .. } => Operation::Approve,
            Command::Reject { .. } => Operation::Reject,
            Command::Pause => Operation::Pause,
            Command::Resume => Operation::Resume,
            Command::Silence { .. } => Operation::Silence,
        }
    }

    /// The command's name, for logs and answers.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::WhatHappened { .. } => "what happened",
            Command::Why { .. } => "why",
            Command::ShowEvidence { .. } => "show evidence",
            Command::Approve { .. } => "approve",
            Command::Reject { .. } => "reject",
            Command::Pause => "pause robot",
            Command::Resume => "resume robot",
            Command::Silence { .. } => "silence",
            Command::Help => "help",
        }
    }
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("the message is longer than {MAX_COMMAND_LEN} characters")]
    TooLong,
    #[error("{usage}")]
    Usage { usage: &'static str },
    #[error("unknown command {word:?}; try help")]
    Unknown { word: String },
}

/// Whether a line that is not a command reads as a free-form question (answered by the
/// model, when one is configured): an unknown first word, or a `why`/`what`/`show` sentence
/// with a question mark in it. Never a line starting with a verb that changes something.
pub fn is_question(line: &str, error: &ParseError) -> bool {
    let first = line
        .trim()
        .trim_start_matches('/')
        .split_whitespace()
        .next()
        .map(str::to_lowercase)
        .unwrap_or_default();
    match error {
        ParseError::Unknown { .. } => true,
        ParseError::Usage { .. } => {
            line.contains('?') && matches!(first.as_str(), "why" | "what" | "show")
        }
        ParseError::Empty | ParseError::TooLong => false,
    }
}

/// What `help` answers.
pub const HELP: &str = "Commands:\n\
status — open incidents, approvals waiting, whether the robot is paused\n\
what happened [<incident>] — the latest incidents, or one incident's story\n\
why did you <verb> <target> — the decision behind an action (e.g. why did you restart payments-api)\n\
show evidence <incident> — the evidence behind an incident\n\
approve <approval-id> — approve a waiting action\n\
reject <approval-id> [reason] — reject a waiting action\n\
pause robot — stop every automatic action\n\
resume robot — let automatic actions run again\n\
silence <incident> <duration> — hold an incident's notices and actions (e.g. silence inc-1 1h)\n\
help — this list";

/// Parses one line. A leading `/` and a Telegram `@botname` suffix are ignored, words are
/// case-insensitive, ids keep their case.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    if line.chars().count() > MAX_COMMAND_LEN {
        return Err(ParseError::TooLong);
    }
    let line = line
        .trim()
        .trim_start_matches('/')
        .trim_end_matches(['?', '!', '.']);
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let Some(first) = words.first_mut() else {
        return Err(ParseError::Empty);
    };
    // `/status@srebot_bot` in a Telegram group.
    if let Some((cmd, _bot)) = first.split_once('@') {
        *first = cmd;
    }
    // `what_happened`, `show_evidence`, `pause_robot`: Telegram command names cannot hold spaces.
    let expanded: Vec<String> = words
        .iter()
        .enumerate()
        .flat_map(|(i, w)| {
            if i == 0 {
                w.split('_').map(str::to_owned).collect::<Vec<_>>()
            } else {
                vec![(*w).to_owned()]
            }
        })
        .collect();
    let lower: Vec<String> = expanded.iter().map(|w| w.to_lowercase()).collect();
    let word = |i: usize| lower.get(i).map(String::as_str);
    let raw = |i: usize| expanded.get(i).map(String::as_str);
    let rest_from = |i: usize| {
        let rest = expanded.get(i..).unwrap_or_default().join(" ");
        (!rest.trim().is_empty()).then_some(rest)
    };
    match word(0) {
        Some("status") if lower.len() == 1 => Ok(Command::Status),
        Some("help" | "start") => Ok(Command::Help),
        Some("what") if word(1) == Some("happened") => {
            if lower.len() > 3 {
                return Err(ParseError::Usage {
                    usage: "what happened [<incident>]",
                });
            }
            Ok(Command::WhatHappened {
                incident: raw(2)
                    .map(|s| s.trim_end_matches('?').to_owned())
                    .filter(|s| !s.is_empty()),
            })
        }
        Some("why") => {
            // why did you <verb> <target>; `did you` may be left out.
            let mut i = 1;
            if word(i) == Some("did") {
                i += 1;
            }
            if word(i) == Some("you") {
                i += 1;
            }
            match (word(i), raw(i + 1)) {
                (Some(verb), Some(target)) if lower.len() == i + 2 => Ok(Command::Why {
                    verb: verb.to_owned(),
                    target: target.trim_end_matches('?').to_owned(),
                }),
                _ => Err(ParseError::Usage {
                    usage: "why did you <verb> <target>",
                }),
            }
        }
        Some("show") if word(1) == Some("evidence") => match raw(2) {
            Some(incident) if lower.len() == 3 => Ok(Command::ShowEvidence {
                incident: incident.to_owned(),
            }),
            _ => Err(ParseError::Usage {
                usage: "show evidence <incident>",
            }),
        },
        Some("approve") => match raw(1) {
            Some(id) if lower.len() == 2 => Ok(Command::Approve {
                approval: id.to_owned(),
            }),
            _ => Err(ParseError::Usage {
                usage: "approve <approval-id>",
            }),
        },
        Some("reject") => match raw(1) {
            Some(id) => Ok(Command::Reject {
                approval: id.to_owned(),
                reason: rest_from(2),
            }),
            None => Err(ParseError::Usage {
                usage: "reject <approval-id> [reason]",
            }),
        },
        Some("pause") if matches!(word(1), Some("robot")) && lower.len() == 2 => Ok(Command::Pause),
        Some("resume") if matches!(word(1), Some("robot")) && lower.len() == 2 => {
            Ok(Command::Resume)
        }
        Some("pause") => Err(ParseError::Usage {
            usage: "pause robot",
        }),
        Some("resume") => Err(ParseError::Usage {
            usage: "resume robot",
        }),
        Some("silence") => match (raw(1), raw(2)) {
            (Some(incident), Some(duration)) if lower.len() == 3 => {
                let duration = model::duration::parse(duration).map_err(|_| ParseError::Usage {
                    usage: "silence <incident> <duration> (e.g. 30m, 1h)",
                })?;
                if duration.is_zero() || duration > Duration::from_secs(7 * 24 * 3600) {
                    return Err(ParseError::Usage {
                        usage: "silence <incident> <duration> (above 0, at most 7 days)",
                    });
                }
                Ok(Command::Silence {
                    incident: incident.to_owned(),
                    duration,
                })
            }
            _ => Err(ParseError::Usage {
                usage: "silence <incident> <duration>",
            }),
        },
        Some(other) => Err(ParseError::Unknown {
            word: other.chars().take(40).collect(),
        }),
        None => Err(ParseError::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses() {
        let cases = [
            ("status", Command::Status),
            ("/status@srebot_bot", Command::Status),
            ("Status", Command::Status),
            ("help", Command::Help),
            ("/start", Command::Help),
            ("what happened", Command::WhatHappened { incident: None }),
            ("what happened?", Command::WhatHappened { incident: None }),
            (
                "what happened inc-3b881be00b61c2aa",
                Command::WhatHappened {
                    incident: Some("inc-3b881be00b61c2aa".into()),
                },
            ),
            ("/what_happened", Command::WhatHappened { incident: None }),
            (
                "why did you restart payments-api",
                Command::Why {
                    verb: "restart".into(),
                    target: "payments-api".into(),
                },
            ),
            (
                "why did you cordon node-b?",
                Command::Why {
                    verb: "cordon".into(),
                    target: "node-b".into(),
                },
            ),
            (
                "show evidence inc-1",
                Command::ShowEvidence {
                    incident: "inc-1".into(),
                },
            ),
            (
                "approve apr-0123ABC",
                Command::Approve {
                    approval: "apr-0123ABC".into(),
                },
            ),
            (
                "reject apr-1 not during the sale",
                Command::Reject {
                    approval: "apr-1".into(),
                    reason: Some("not during the sale".into()),
                },
            ),
            (
                "reject apr-1",
                Command::Reject {
                    approval: "apr-1".into(),
                    reason: None,
                },
            ),
            ("pause robot", Command::Pause),
            ("/pause_robot", Command::Pause),
            ("resume robot", Command::Resume),
            (
                "silence inc-1 1h",
                Command::Silence {
                    incident: "inc-1".into(),
                    duration: Duration::from_secs(3600),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Ok(want), "{line}");
        }
    }

    #[test]
    fn conversation_never_approves() {
        for line in [
            "yes",
            "ok go ahead",
            "approve",
            "please approve apr-1",
            "approve apr-1 and apr-2",
            "sounds good, approved",
            "lgtm",
        ] {
            assert!(
                !matches!(parse(line), Ok(Command::Approve { .. })),
                "{line} approved"
            );
        }
    }

    #[test]
    fn bad_lines_say_what_is_expected() {
        assert_eq!(parse("  "), Err(ParseError::Empty));
        assert!(matches!(parse("dance"), Err(ParseError::Unknown { .. })));
        let err = parse("silence inc-1 forever").unwrap_err().to_string();
        assert!(err.contains("silence <incident> <duration>"), "{err}");
        assert!(parse("silence inc-1 30d").is_err());
        assert_eq!(parse(&"x".repeat(2_000)), Err(ParseError::TooLong));
        assert!(matches!(parse("why"), Err(ParseError::Usage { .. })));
        let question = |line: &str| parse(line).is_err_and(|e| is_question(line, &e));
        assert!(question("is the payments database slow?"));
        assert!(question("why is payments-api failing?"));
        assert!(!question("why is payments-api failing"), "a question asks");
        assert!(!question("approve it now please?"), "never a changing verb");
        assert!(!question("pause everything?"));
        assert!(!question("status"), "a command is not a question");
        assert!(matches!(parse("pause"), Err(ParseError::Usage { .. })));
    }

    #[test]
    fn operations_are_least_privilege() {
        use app::Role;
        let role = |line: &str| parse(line).unwrap().operation().least_role();
        assert_eq!(role("status"), Role::Read);
        assert_eq!(role("what happened"), Role::Read);
        assert_eq!(role("show evidence inc-1"), Role::Read);
        assert_eq!(role("pause robot"), Role::Operate);
        assert_eq!(role("silence inc-1 1h"), Role::Operate);
        assert_eq!(role("approve apr-1"), Role::Approve);
        assert_eq!(role("resume robot"), Role::Approve);
    }
}
