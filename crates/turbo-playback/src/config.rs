//! [`SoundConfig`]: the TOML file that maps sound keys to files, and
//! [`SoundConfigHandle`], its reloadable, never-blocking shared form.
//!
//! The file is parsed with toml's spanned document parser and checked field by
//! field, so every problem (unknown field, wrong type, value out of range, two
//! spellings of one key) names its file, line, column and key, and the problems
//! are reported at once rather than the first only: the first
//! [`MAX_PROBLEMS`] by position, and a count of the rest (a file of 10,000
//! unknown keys gives 50 lines and "and 9950 more", not 10,000 lines).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ConfigError, ConfigProblem, ProblemKind, ReloadError};
use crate::file::{Links, OpenFailure, open_regular, read_at_most};
use crate::key::{is_valid_normalized, normalize_key};

/// Default playback timeout: a notification sound that runs longer is cut off.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default throttle window for sounds that do not set their own.
pub const DEFAULT_THROTTLE: Duration = Duration::from_secs(1);
/// Default bound on concurrent playbacks started by one [`Player`](crate::Player).
pub const DEFAULT_MAX_CONCURRENT: usize = 4;
/// Longest throttle window a configuration accepts: one day, which is also how
/// long the throttle keeps an entry in its state file.
pub const MAX_THROTTLE: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest playback timeout a configuration accepts: ten minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Largest `max_concurrent` a configuration accepts.
pub const MAX_CONCURRENT_LIMIT: usize = 64;
/// The largest config file [`SoundConfig::load`] reads: 1 MiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// How many problems a [`ConfigError::Invalid`] lists; the rest are counted.
pub const MAX_PROBLEMS: usize = 50;

const TOP_FIELDS: &[&str] = &[
    "enabled",
    "volume",
    "player",
    "timeout_ms",
    "throttle_ms",
    "max_concurrent",
    "sound_dir",
    "sounds",
];
const SOUND_FIELDS: &[&str] = &["file", "volume", "throttle_ms", "enabled"];

/// One configured sound, with the global settings already applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Sound {
    key: String,
    file: PathBuf,
    volume: f32,
    throttle: Duration,
    enabled: bool,
    line: usize,
}

impl Sound {
    /// The normalized key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The sound file: `~/` expanded, and a relative path joined to `sound_dir`
    /// (itself relative to the config file's directory) or to the config file's
    /// directory. For a configuration parsed from a string without a path, a
    /// relative path stays relative to the process's working directory.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The effective volume, 0.0 to 1.0: the global `volume` times the sound's own.
    pub fn volume(&self) -> f32 {
        self.volume
    }

    /// The throttle window: the sound's own `throttle_ms`, else the global one.
    /// Zero means the sound is never throttled.
    pub fn throttle(&self) -> Duration {
        self.throttle
    }

    /// Whether this sound may play (the global switch is separate, see
    /// [`SoundConfig::enabled`]).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The line of the config file where the sound is defined.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// The sound configuration: which file each key plays, how loud, with which
/// player, for how long at most, and how often.
///
/// ```toml
/// enabled = true          # master switch (default true)
/// volume = 0.8            # 0.0 to 1.0 (default 1.0), multiplied with each sound's
/// player = "paplay"       # a command line (split on spaces) or a list of arguments;
///                         # default: the first of paplay, aplay, afplay, ffplay on PATH
/// timeout_ms = 5000       # playback is killed after this (default 5000, 1 to 600000)
/// throttle_ms = 1000      # default window per key (default 1000, 0 = never throttled)
/// max_concurrent = 4      # playbacks at once per Player (default 4, 1 to 64)
/// sound_dir = "sounds"    # base for relative sound files (relative to this file)
///
/// [sounds]
/// notification = "notify.wav"
/// Pre-Tool_Use = { file = "pre.wav", volume = 0.5, throttle_ms = 2000 }
/// stop = { file = "stop.wav", enabled = false }
/// ```
///
/// Keys are normalized with [`normalize_key`], so `Pre-Tool_Use`, `pre_tool_use`
/// and `PRETOOLUSE` name one sound; two spellings of the same key in one file are an
/// error. A custom player's arguments may contain `{file}` (replaced by the sound
/// file; without it the file is appended), `{volume}` (0.0 to 1.0) and
/// `{volume_percent}` (0 to 100).
///
/// # Examples
///
/// ```
/// use turbo_playback::SoundConfig;
///
/// let config = SoundConfig::parse(r#"
///     volume = 0.5
///     [sounds]
///     Pre-Tool_Use = { file = "/sounds/pre.wav", throttle_ms = 2000 }
/// "#)?;
/// let sound = config.sound("pre_tool_use").expect("configured");
/// assert_eq!(sound.volume(), 0.5);
/// assert_eq!(sound.throttle().as_millis(), 2000);
///
/// let error = SoundConfig::parse("volume = 2.0\n").unwrap_err();
/// assert_eq!(error.problems()[0].line, 1);
/// assert_eq!(error.problems()[0].key, "volume");
/// # Ok::<(), turbo_playback::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SoundConfig {
    source: Option<PathBuf>,
    enabled: bool,
    volume: f32,
    player: Option<Vec<String>>,
    timeout: Duration,
    throttle: Duration,
    max_concurrent: usize,
    sounds: BTreeMap<String, Sound>,
}

impl Default for SoundConfig {
    /// No sounds, every setting at its default.
    fn default() -> Self {
        Self {
            source: None,
            enabled: true,
            volume: 1.0,
            player: None,
            timeout: DEFAULT_TIMEOUT,
            throttle: DEFAULT_THROTTLE,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            sounds: BTreeMap::new(),
        }
    }
}

impl SoundConfig {
    /// Parses a configuration from TOML text that has no file behind it (errors
    /// name the file `<string>`; relative sound paths stay relative).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] listing the problems with their lines and keys.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        parse_document(text, "<string>", None)
    }

    /// Parses TOML text as if it were the file at `path`: errors name `path`,
    /// relative sound paths are resolved against its directory, and the result can
    /// be reloaded from `path` later. The file itself is not read.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] listing the problems with their lines and keys.
    pub fn parse_as(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        parse_document(text, &file, Some(path))
    }

    /// Reads and parses the file at `path`. A symbolic link is followed, but
    /// what it leads to must be a regular file: a FIFO, a device such as
    /// `/dev/zero` or a directory is refused without being read (and a FIFO
    /// without blocking), and so is a file larger than [`MAX_CONFIG_BYTES`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::NotRegularFile`], [`ConfigError::TooLarge`],
    /// [`ConfigError::Read`] if the file cannot be read or is not UTF-8, else as
    /// [`parse_as`](Self::parse_as).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let bytes = open_regular(path, Links::Follow)
            .and_then(|file| read_at_most(file, MAX_CONFIG_BYTES))
            .map_err(|failure| match failure {
                OpenFailure::Io(source) => ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                },
                OpenFailure::NotRegular(kind) => ConfigError::NotRegularFile {
                    path: path.to_path_buf(),
                    kind,
                },
                OpenFailure::TooLarge => ConfigError::TooLarge {
                    path: path.to_path_buf(),
                    max: MAX_CONFIG_BYTES,
                },
            })?;
        let text = String::from_utf8(bytes).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, error.utf8_error()),
        })?;
        Self::parse_as(&text, path)
    }

    /// The file this configuration came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The master switch: when false, every key is [`Disabled`](crate::Status::Disabled).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The global volume, 0.0 to 1.0.
    pub fn volume(&self) -> f32 {
        self.volume
    }

    /// The configured player command line, or `None` to detect one on `PATH`.
    pub fn player(&self) -> Option<&[String]> {
        self.player.as_deref()
    }

    /// How long a playback may run before the player is killed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The default throttle window.
    pub fn throttle(&self) -> Duration {
        self.throttle
    }

    /// How many playbacks one [`Player`](crate::Player) runs at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// The sound for `key`, in any spelling (see [`normalize_key`]).
    pub fn sound(&self, key: &str) -> Option<&Sound> {
        self.sounds.get(&normalize_key(key))
    }

    /// Every configured sound, by normalized key.
    pub fn sounds(&self) -> impl Iterator<Item = &Sound> {
        self.sounds.values()
    }
}

/// A shared, reloadable [`SoundConfig`].
///
/// Readers get the whole current configuration as one `Arc` with a few atomic
/// operations and never wait, not even during a reload; a reload parses the new
/// file first and swaps it in as one pointer, so a reader sees the old
/// configuration or the new one, never a mix. A reload that fails keeps the
/// previous configuration and says why.
///
/// Clones share the same configuration.
///
/// # Examples
///
/// ```
/// use turbo_playback::{SoundConfig, SoundConfigHandle};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("sounds.toml");
/// std::fs::write(&path, "[sounds]\nstop = \"stop.wav\"\n")?;
/// let handle = SoundConfigHandle::load(&path)?;
///
/// std::fs::write(&path, "[sounds]\nstop = { file = \"stop.wav\", loudness = 3 }\n")?;
/// let error = handle.reload().unwrap_err();
/// assert!(error.to_string().contains("line 2"));
/// assert!(handle.current().sound("stop").is_some(), "the old config stays");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SoundConfigHandle {
    current: Arc<ArcSwap<SoundConfig>>,
}

impl SoundConfigHandle {
    /// A handle holding `config`; [`reload`](Self::reload) re-reads
    /// `config.source()` if it has one.
    pub fn new(config: SoundConfig) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(config)),
        }
    }

    /// Loads the file at `path` into a new handle.
    ///
    /// # Errors
    ///
    /// As [`SoundConfig::load`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        SoundConfig::load(path).map(Self::new)
    }

    /// The current configuration. Never blocks; the returned `Arc` stays valid
    /// (and unchanged) however many reloads happen while it is held.
    pub fn current(&self) -> Arc<SoundConfig> {
        self.current.load_full()
    }

    /// Re-reads the file the current configuration came from and, if it is
    /// valid, makes it current. On failure the previous configuration stays and
    /// a warning is logged.
    ///
    /// # Errors
    ///
    /// [`ReloadError::NoSource`] if the configuration has no file,
    /// [`ReloadError::Config`] if the file cannot be read or is invalid.
    pub fn reload(&self) -> Result<Arc<SoundConfig>, ReloadError> {
        // An owned Arc, not a guard: the file is read while it is held.
        let current = self.current.load_full();
        let Some(path) = current.source() else {
            return Err(ReloadError::NoSource);
        };
        match SoundConfig::load(path) {
            Ok(config) => {
                let config = Arc::new(config);
                self.current.store(Arc::clone(&config));
                tracing::debug!(path = %path.display(), "sound config reloaded");
                Ok(config)
            }
            Err(error) => {
                tracing::warn!(%error, "sound config reload failed; previous config kept");
                Err(ReloadError::Config(error))
            }
        }
    }

    /// Makes `config` current and returns the previous one.
    pub fn replace(&self, config: SoundConfig) -> Arc<SoundConfig> {
        self.current.swap(Arc::new(config))
    }
}

impl From<SoundConfig> for SoundConfigHandle {
    fn from(config: SoundConfig) -> Self {
        Self::new(config)
    }
}

type Value<'t> = Spanned<DeValue<'t>>;

/// Parses and checks a whole document; collects every problem, and places the
/// first [`MAX_PROBLEMS`] of them.
fn parse_document(text: &str, file: &str, path: Option<&Path>) -> Result<SoundConfig, ConfigError> {
    let mut checker = Checker {
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect(),
        problems: Vec::new(),
    };
    let config = match DeTable::parse(text) {
        Ok(table) => Some(checker.top(table.get_ref(), path)),
        Err(error) => {
            let offset = error.span().map_or(0, |span| span.start);
            checker.problem(
                offset,
                String::new(),
                ProblemKind::Syntax {
                    message: error.message().to_owned(),
                },
            );
            None
        }
    };
    match config {
        Some(config) if checker.problems.is_empty() => Ok(config),
        _ => {
            let mut found = std::mem::take(&mut checker.problems);
            found.sort_by_key(|problem| problem.offset);
            let omitted = found.len().saturating_sub(MAX_PROBLEMS);
            let problems = found
                .into_iter()
                .take(MAX_PROBLEMS)
                .map(|problem| {
                    let (line, column) = checker.position(problem.offset);
                    ConfigProblem {
                        line,
                        column,
                        key: problem.key,
                        kind: problem.kind,
                    }
                })
                .collect();
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems,
                omitted,
            })
        }
    }
}

/// The settings of one `[sounds]` entry before the global ones are applied.
struct RawSound {
    key: String,
    file: String,
    volume: f32,
    throttle: Option<Duration>,
    enabled: bool,
    line: usize,
}

/// A problem found, before its line and column are worked out.
struct Found {
    offset: usize,
    key: String,
    kind: ProblemKind,
}

struct Checker<'t> {
    text: &'t str,
    /// Byte offset of the start of every line, so a position costs a binary
    /// search rather than a scan of the text (10,000 problems or sounds would
    /// otherwise scan it 10,000 times).
    line_starts: Vec<usize>,
    problems: Vec<Found>,
}

impl Checker<'_> {
    fn top(&mut self, table: &DeTable<'_>, path: Option<&Path>) -> SoundConfig {
        let mut config = SoundConfig {
            source: path.map(Path::to_path_buf),
            ..SoundConfig::default()
        };
        let mut sound_dir = None;
        let mut raw_sounds = Vec::new();
        for (name, value) in table.iter() {
            let key = name.get_ref().as_ref();
            match key {
                "enabled" => {
                    if let Some(flag) = self.boolean(key, value) {
                        config.enabled = flag;
                    }
                }
                "volume" => {
                    if let Some(volume) = self.volume(key, value) {
                        config.volume = volume;
                    }
                }
                "player" => config.player = self.player(key, value),
                "timeout_ms" => {
                    let max = duration_ms(MAX_TIMEOUT);
                    if let Some(ms) = self.integer(key, value, 1, max, "1 to 600000 ms") {
                        config.timeout = Duration::from_millis(ms);
                    }
                }
                "throttle_ms" => {
                    if let Some(window) = self.window(key, value) {
                        config.throttle = window;
                    }
                }
                "max_concurrent" => {
                    let max = MAX_CONCURRENT_LIMIT as u64;
                    if let Some(n) = self.integer(key, value, 1, max, "1 to 64") {
                        config.max_concurrent = usize::try_from(n).unwrap_or(MAX_CONCURRENT_LIMIT);
                    }
                }
                "sound_dir" => sound_dir = self.string(key, value),
                "sounds" => raw_sounds = self.sounds(value),
                _ => self.unknown(name, key.to_owned(), TOP_FIELDS),
            }
        }
        let base = base_dir(path, sound_dir.as_deref());
        for raw in raw_sounds {
            let sound = Sound {
                file: resolve_file(&raw.file, base.as_deref()),
                volume: raw.volume * config.volume,
                throttle: raw.throttle.unwrap_or(config.throttle),
                enabled: raw.enabled,
                line: raw.line,
                key: raw.key,
            };
            config.sounds.insert(sound.key.clone(), sound);
        }
        config
    }

    /// The `[sounds]` table: each entry a file name or a table of settings.
    fn sounds(&mut self, value: &Value<'_>) -> Vec<RawSound> {
        let Some(table) = self.table("sounds", value) else {
            return Vec::new();
        };
        // In document order, so a duplicate is reported at its later spelling.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(name, _)| name.span().start);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut sounds = Vec::new();
        for (name, value) in entries {
            let written = name.get_ref().as_ref();
            let path = format!("sounds.{}", quote_key(written));
            let line = self.position(name.span().start).0;
            let key = normalize_key(written);
            if !is_valid_normalized(&key) {
                self.problem(
                    name.span().start,
                    path,
                    ProblemKind::InvalidKey { normalized: key },
                );
                continue;
            }
            if let Some(&first_line) = seen.get(&key) {
                self.problem(
                    name.span().start,
                    path,
                    ProblemKind::DuplicateKey {
                        normalized: key,
                        first_line,
                    },
                );
                continue;
            }
            seen.insert(key.clone(), line);
            if let Some(raw) = self.sound(&path, key, line, value) {
                sounds.push(raw);
            }
        }
        sounds
    }

    fn sound(
        &mut self,
        path: &str,
        key: String,
        line: usize,
        value: &Value<'_>,
    ) -> Option<RawSound> {
        let mut raw = RawSound {
            key,
            file: String::new(),
            volume: 1.0,
            throttle: None,
            enabled: true,
            line,
        };
        match value.get_ref() {
            DeValue::String(_) => {
                raw.file = self.string(path, value)?;
                Some(raw)
            }
            DeValue::Table(table) => {
                let mut file = None;
                for (name, value) in table.iter() {
                    let field = name.get_ref().as_ref();
                    let key = format!("{path}.{}", quote_key(field));
                    match field {
                        "file" => file = self.string(&key, value),
                        "volume" => raw.volume = self.volume(&key, value).unwrap_or(raw.volume),
                        "throttle_ms" => raw.throttle = self.window(&key, value),
                        "enabled" => raw.enabled = self.boolean(&key, value).unwrap_or(true),
                        _ => self.unknown(name, key, SOUND_FIELDS),
                    }
                }
                match file {
                    Some(file) => raw.file = file,
                    None if table.contains_key("file") => return None,
                    None => {
                        self.problem(
                            value.span().start,
                            path.to_owned(),
                            ProblemKind::Missing { field: "file" },
                        );
                        return None;
                    }
                }
                Some(raw)
            }
            other => {
                self.wrong_type::<()>(path, value, "a file name or a table", other);
                None
            }
        }
    }

    fn unknown(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        key: String,
        allowed: &'static [&'static str],
    ) {
        self.problem(
            name.span().start,
            key,
            ProblemKind::UnknownField { allowed },
        );
    }

    fn boolean(&mut self, key: &str, value: &Value<'_>) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            other => self.wrong_type(key, value, "a boolean", other),
        }
    }

    fn string(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) if text.trim().is_empty() => {
                self.problem(value.span().start, key.to_owned(), ProblemKind::Empty);
                None
            }
            DeValue::String(text) => Some(text.as_ref().to_owned()),
            other => self.wrong_type(key, value, "a string", other),
        }
    }

    fn table<'v, 't>(&mut self, key: &str, value: &'v Value<'t>) -> Option<&'v DeTable<'t>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            other => self.wrong_type(key, value, "a table", other),
        }
    }

    /// An integer in `min..=max`.
    fn integer(
        &mut self,
        key: &str,
        value: &Value<'_>,
        min: u64,
        max: u64,
        allowed: &'static str,
    ) -> Option<u64> {
        let DeValue::Integer(integer) = value.get_ref() else {
            return self.wrong_type(key, value, "an integer", value.get_ref());
        };
        match u64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.problem(
                    value.span().start,
                    key.to_owned(),
                    ProblemKind::OutOfRange {
                        value: integer.to_string(),
                        allowed,
                    },
                );
                None
            }
        }
    }

    /// A throttle window in milliseconds.
    fn window(&mut self, key: &str, value: &Value<'_>) -> Option<Duration> {
        let max = duration_ms(MAX_THROTTLE);
        self.integer(key, value, 0, max, "0 to 86400000 ms")
            .map(Duration::from_millis)
    }

    /// A volume: a float or integer from 0 to 1.
    fn volume(&mut self, key: &str, value: &Value<'_>) -> Option<f32> {
        let (written, parsed) = match value.get_ref() {
            DeValue::Float(float) => (
                float.as_str().to_owned(),
                float.as_str().parse::<f64>().ok(),
            ),
            DeValue::Integer(integer) => (
                integer.to_string(),
                i64::from_str_radix(integer.as_str(), integer.radix())
                    .ok()
                    .map(|n| n as f64),
            ),
            other => return self.wrong_type(key, value, "a number from 0.0 to 1.0", other),
        };
        match parsed {
            // Narrowing to f32 is exact enough for a volume and cannot overflow here.
            Some(volume) if (0.0..=1.0).contains(&volume) => Some(volume as f32),
            _ => {
                self.problem(
                    value.span().start,
                    key.to_owned(),
                    ProblemKind::OutOfRange {
                        value: written,
                        allowed: "0.0 to 1.0",
                    },
                );
                None
            }
        }
    }

    /// A player command: a string split on whitespace, or a list of strings.
    fn player(&mut self, key: &str, value: &Value<'_>) -> Option<Vec<String>> {
        let words: Vec<String> = match value.get_ref() {
            DeValue::String(text) => text.split_whitespace().map(str::to_owned).collect(),
            DeValue::Array(items) => {
                let mut words = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let item_key = format!("{key}[{index}]");
                    match item.get_ref() {
                        DeValue::String(text) => words.push(text.as_ref().to_owned()),
                        other => {
                            self.wrong_type::<()>(&item_key, item, "a string", other);
                            return None;
                        }
                    }
                }
                words
            }
            other => return self.wrong_type(key, value, "a string or a list of strings", other),
        };
        if words
            .first()
            .is_none_or(|program| program.trim().is_empty())
        {
            self.problem(value.span().start, key.to_owned(), ProblemKind::Empty);
            return None;
        }
        Some(words)
    }

    fn wrong_type<T>(
        &mut self,
        key: &str,
        value: &Value<'_>,
        expected: &'static str,
        found: &DeValue<'_>,
    ) -> Option<T> {
        self.problem(
            value.span().start,
            key.to_owned(),
            ProblemKind::WrongType {
                expected,
                found: found.type_str(),
            },
        );
        None
    }

    fn problem(&mut self, offset: usize, key: String, kind: ProblemKind) {
        self.problems.push(Found { offset, key, kind });
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset);
        // The number of lines starting at or before `offset`; at least 1.
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }
}

/// The largest char boundary at or below `offset`, clamped to the text.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A key as it would be written in a dotted path: bare if it can be, quoted if not.
fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// Where relative sound files are found.
fn base_dir(config_path: Option<&Path>, sound_dir: Option<&str>) -> Option<PathBuf> {
    let config_dir = config_path.and_then(Path::parent).map(Path::to_path_buf);
    match sound_dir {
        Some(dir) => {
            let dir = expand_home(dir);
            match config_dir {
                Some(config_dir) if dir.is_relative() => Some(config_dir.join(dir)),
                _ => Some(dir),
            }
        }
        None => config_dir.filter(|dir| !dir.as_os_str().is_empty()),
    }
}

fn resolve_file(file: &str, base: Option<&Path>) -> PathBuf {
    let file = expand_home(file);
    match base {
        Some(base) if file.is_relative() => base.join(file),
        _ => file,
    }
}

/// `~` or `~/...` relative to `$HOME`; anything else as written.
fn expand_home(path: &str) -> PathBuf {
    let rest = match path {
        "~" => Some(""),
        _ => path.strip_prefix("~/"),
    };
    match (rest, std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<ConfigProblem> {
        match SoundConfig::parse(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(error) => error.problems().to_vec(),
        }
    }

    #[test]
    fn defaults_apply_without_fields() {
        let config = SoundConfig::parse("").unwrap();
        assert_eq!(config, SoundConfig::default());
        assert!(config.enabled());
        assert_eq!(config.timeout(), DEFAULT_TIMEOUT);
    }

    #[test]
    fn short_and_table_forms() {
        let config = SoundConfig::parse_as(
            "volume = 0.5\nthrottle_ms = 250\nsound_dir = \"snd\"\n[sounds]\nstop = \"stop.wav\"\n\
             Pre-Tool_Use = { file = \"/abs/pre.wav\", volume = 0.5, throttle_ms = 0, enabled = false }\n",
            Path::new("/etc/turbo/sounds.toml"),
        )
        .unwrap();
        let stop = config.sound("STOP").unwrap();
        assert_eq!(stop.file(), Path::new("/etc/turbo/snd/stop.wav"));
        assert_eq!(stop.volume(), 0.5);
        assert_eq!(stop.throttle(), Duration::from_millis(250));
        assert!(stop.enabled());
        assert_eq!(stop.line(), 5);
        let pre = config.sound("pre tool use").unwrap();
        assert_eq!(pre.file(), Path::new("/abs/pre.wav"));
        assert_eq!(pre.volume(), 0.25);
        assert_eq!(pre.throttle(), Duration::ZERO);
        assert!(!pre.enabled());
        assert_eq!(config.source(), Some(Path::new("/etc/turbo/sounds.toml")));
    }

    #[test]
    fn player_as_string_or_list() {
        let config = SoundConfig::parse("player = \"ffplay -nodisp  -autoexit\"").unwrap();
        assert_eq!(config.player().unwrap(), ["ffplay", "-nodisp", "-autoexit"]);
        let config = SoundConfig::parse("player = [\"my player\", \"{file}\"]").unwrap();
        assert_eq!(config.player().unwrap(), ["my player", "{file}"]);
        let found = problems("player = [\"a\", 1]");
        assert_eq!(found[0].key, "player[1]");
        assert_eq!(problems("player = \"  \"")[0].kind, ProblemKind::Empty);
    }

    #[test]
    fn every_problem_is_reported_with_line_and_key() {
        let text = "volume = 1.5\nloud = true\n[sounds]\nstop = { file = \"s.wav\", throttle_ms = -1 }\ngo = 3\n";
        let found = problems(text);
        let summary: Vec<(usize, &str)> = found.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            summary,
            [
                (1, "volume"),
                (2, "loud"),
                (4, "sounds.stop.throttle_ms"),
                (5, "sounds.go")
            ]
        );
        assert!(matches!(found[1].kind, ProblemKind::UnknownField { .. }));
        assert!(matches!(
            found[3].kind,
            ProblemKind::WrongType {
                found: "integer",
                ..
            }
        ));
    }

    #[test]
    fn duplicate_spellings_are_refused_at_the_later_line() {
        let found = problems("[sounds]\nstop = \"a.wav\"\n  S-T-O-P = \"b.wav\"\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (3, 3));
        assert_eq!(
            found[0].kind,
            ProblemKind::DuplicateKey {
                normalized: "stop".to_owned(),
                first_line: 2
            }
        );
    }

    #[test]
    fn invalid_keys_and_missing_file() {
        let found =
            problems("[sounds]\n\"-_-\" = \"a.wav\"\n\"a/b\" = \"b.wav\"\nc = { volume = 0.5 }\n");
        assert_eq!(found.len(), 3);
        assert!(matches!(found[0].kind, ProblemKind::InvalidKey { .. }));
        assert_eq!(found[0].key, "sounds.-_-");
        assert_eq!(found[1].key, "sounds.\"a/b\"");
        assert_eq!(found[2].kind, ProblemKind::Missing { field: "file" });
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let found = problems("volume = 0.5\n[sounds\n");
        assert_eq!(found[0].line, 2);
        assert!(matches!(found[0].kind, ProblemKind::Syntax { .. }));
    }

    #[test]
    fn ranges_are_enforced() {
        for (text, key) in [
            ("timeout_ms = 0", "timeout_ms"),
            ("timeout_ms = 600001", "timeout_ms"),
            ("throttle_ms = 86400001", "throttle_ms"),
            ("max_concurrent = 0", "max_concurrent"),
            ("max_concurrent = 65", "max_concurrent"),
            ("volume = -0.1", "volume"),
            ("volume = nan", "volume"),
            ("volume = 2", "volume"),
        ] {
            let found = problems(text);
            assert_eq!(found[0].key, key, "{text}");
            assert!(
                matches!(found[0].kind, ProblemKind::OutOfRange { .. }),
                "{text}"
            );
        }
        let config =
            SoundConfig::parse("volume = 0\ntimeout_ms = 0x10\nmax_concurrent = 64").unwrap();
        assert_eq!(config.volume(), 0.0);
        assert_eq!(config.timeout(), Duration::from_millis(16));
    }

    #[test]
    fn positions_count_characters_and_lines() {
        let text = "# é\nvolume = 3.0\n";
        let found = problems(text);
        assert_eq!((found[0].line, found[0].column), (2, 10));
    }
}
