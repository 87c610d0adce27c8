//! `--set key=value` and `GPFN_*` values are typed by the schema: a string field takes the
//! text as written (`2024`, `nan`, `true`, `1e3`), a number field still reads numbers and
//! refuses text, naming the key.

use gpfn_data as _;
use gpfn_network as _;
use gpfn_run::config::{ConfigSources, Loaded, load};
use gpfn_w2 as _;

/// Texts that TOML reads as something other than a string.
const NOT_TOML_STRINGS: &[&str] = &["2024", "nan", "true", "1e3", "-7", "inf", "1979-05-27"];

/// `GPFN_*` variables of a case.
type Env = &'static [(&'static str, &'static str)];
/// `--set` flags of a case.
type Sets = &'static [&'static str];

fn sources(env: &[(&str, &str)], sets: &[&str]) -> ConfigSources {
    ConfigSources {
        file: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
    }
}

fn ok(env: &[(&str, &str)], sets: &[&str]) -> Loaded {
    load(&sources(env, sets)).unwrap_or_else(|e| panic!("{env:?} {sets:?}: {e}"))
}

fn err(env: &[(&str, &str)], sets: &[&str]) -> String {
    match load(&sources(env, sets)) {
        Ok(_) => panic!("{env:?} {sets:?} should be rejected"),
        Err(e) => e.to_string(),
    }
}

/// `data.dir` of the resolved config (a plugin's own string field), read back from its TOML.
fn data_dir(loaded: &Loaded) -> String {
    let table: toml::Table = toml::from_str(&loaded.config.to_toml()).unwrap();
    table["data"]["dir"].as_str().expect("data.dir").to_string()
}

#[test]
fn a_string_key_takes_set_text_as_written() {
    for text in NOT_TOML_STRINGS {
        let loaded = ok(&[], &[&format!("run.name={text}")]);
        assert_eq!(loaded.config.run.name, *text);
        assert_eq!(loaded.source_of("run.name"), "--set run.name");
        // The resolved config saves it as a string, so the run folder's config reads back.
        let again = gpfn_run::config::Config::from_toml(&loaded.config.to_toml()).unwrap();
        assert_eq!(again.run.name, *text);
    }
    // Path fields too, and a quoted value is still a TOML string.
    let loaded = ok(&[], &["run.dir=1e3", "run.name=\"2024\""]);
    assert_eq!(loaded.config.run.dir, std::path::PathBuf::from("1e3"));
    assert_eq!(loaded.config.run.name, "2024");
}

#[test]
fn a_string_key_takes_gpfn_variable_text_as_written() {
    for text in NOT_TOML_STRINGS {
        let loaded = ok(&[("GPFN_RUN__NAME", text)], &[]);
        assert_eq!(loaded.config.run.name, *text);
        assert_eq!(loaded.source_of("run.name"), "env GPFN_RUN__NAME");
    }
}

#[test]
fn a_plugin_string_field_takes_the_text_as_written() {
    // `data.dir` belongs to the data set the section names (`mnist`), deserialised through
    // typetag; `dir` sorts before `name`, so typetag buffers the section and loses the path.
    for text in NOT_TOML_STRINGS {
        let loaded = ok(&[], &["data.name=mnist", &format!("data.dir={text}")]);
        assert_eq!(data_dir(&loaded), *text);
        assert_eq!(loaded.source_of("data.dir"), "--set data.dir");
        let loaded = ok(
            &[("GPFN_DATA__NAME", "mnist"), ("GPFN_DATA__DIR", text)],
            &[],
        );
        assert_eq!(data_dir(&loaded), *text);
    }
    // Both at once, in two different sections, with typed neighbours in the same section.
    let loaded = ok(
        &[("GPFN_RUN__NAME", "nan")],
        &[
            "data.name=mnist",
            "data.limit=100",
            "data.dir=2024",
            "data.download=false",
        ],
    );
    assert_eq!(loaded.config.run.name, "nan");
    assert_eq!(data_dir(&loaded), "2024");
    let toml = loaded.config.to_toml();
    assert!(
        toml.contains("limit = 100") && toml.contains("download = false"),
        "{toml}"
    );
}

#[test]
fn a_plugin_name_is_always_a_string() {
    let e = err(&[], &["divergence.name=2024"]);
    assert!(
        e.contains("divergence.name") && e.contains("`2024`") && e.contains("w2"),
        "{e}"
    );
}

#[test]
fn a_string_key_that_checks_its_text_reports_on_the_text() {
    let e = err(&[], &["backend=2024"]);
    assert!(
        e.contains("`backend`") && e.contains("unknown backend `2024`") && e.contains("--set"),
        "{e}"
    );
}

#[test]
fn a_number_key_refuses_text_naming_the_key() {
    // (variables, --set flags, key, the layer the message names)
    let cases: &[(Env, Sets, &str, &str)] = &[
        (&[], &["train.lr=abc"], "train.lr", "--set train.lr"),
        (&[], &["train.lr=true"], "train.lr", "--set train.lr"),
        (
            &[],
            &["train.steps=abc"],
            "train.steps",
            "--set train.steps",
        ),
        (&[], &["seed=1e3x"], "seed", "--set seed"),
        (
            &[("GPFN_TRAIN__LR", "abc")],
            &[],
            "train.lr",
            "env GPFN_TRAIN__LR",
        ),
        // Number fields of plugins: the sampler's `steps`, the data set's `limit`.
        (
            &[],
            &["sampler.steps=abc"],
            "sampler.steps",
            "--set sampler.steps",
        ),
        (
            &[],
            &["sampler.steps=true"],
            "sampler.steps",
            "--set sampler.steps",
        ),
        (
            &[],
            &["data.name=mnist", "data.limit=true"],
            "data.limit",
            "--set data.limit",
        ),
        (
            &[],
            &["data.name=mnist", "data.limit=abc"],
            "data.limit",
            "--set data.limit",
        ),
        (
            &[],
            &["data.name=mnist", "data.download=yes"],
            "data.download",
            "--set data.download",
        ),
    ];
    for (env, sets, key, origin) in cases {
        let e = err(env, sets);
        assert!(
            e.contains(&format!("`{key}`")) && e.contains(origin) && e.contains("invalid type"),
            "{env:?} {sets:?}: {e}"
        );
    }
    // The number the text was read as is what the message shows, not the text as a string.
    let e = err(&[], &["train.lr=true"]);
    assert!(e.contains("found bool true"), "{e}");
    let e = err(&[], &["train.lr=nan"]);
    assert!(e.contains("`train.lr`") && e.contains("finite"), "{e}");
}

#[test]
fn ordinary_numbers_and_booleans_stay_typed() {
    let loaded = ok(
        &[("GPFN_SEED", "3"), ("GPFN_TRAIN__BATCH_SIZE", "64")],
        &[
            "train.lr=1e-3",
            "train.steps=7",
            "train.ema_decay=0",
            "sampler.steps=5",
            "data.name=mnist",
            "data.limit=10",
            "data.download=false",
        ],
    );
    let c = &loaded.config;
    assert_eq!(c.seed, 3);
    assert_eq!(c.train.batch_size, 64);
    assert_eq!(c.train.lr, 1e-3);
    assert_eq!(c.train.steps, 7);
    assert_eq!(c.train.ema_decay, 0.0);
    assert_eq!(loaded.source_of("train.lr"), "--set train.lr");
    let toml = c.to_toml();
    assert!(
        toml.contains("steps = 5")
            && toml.contains("limit = 10")
            && toml.contains("download = false"),
        "{toml}"
    );
}

#[test]
fn errors_of_typed_values_are_the_ones_their_reading_gives() {
    // A number out of range, in a plugin section and out of one: the range, not a type error.
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["sampler.name=stochastic", "sampler.eta=2"],
            "sampler.eta",
            "must be in [0, 1], got 2",
        ),
        (
            &["train.ema_decay=1"],
            "train.ema_decay",
            "must be in [0, 1), got 1",
        ),
        (&["sampler.steps=0"], "sampler.steps", "must be ≥ 1, got 0"),
    ];
    for (sets, key, what) in cases {
        let e = err(&[], sets);
        assert!(
            e.contains(&format!("`{key}`")) && e.contains(what) && e.contains("--set"),
            "{sets:?}: {e}"
        );
    }
    // An unknown key is named as such, whatever its value.
    let e = err(&[], &["sampler.eta_typo=0.1"]);
    assert!(
        e.contains("sampler") && e.contains("unknown field") && e.contains("eta_typo"),
        "{e}"
    );
    let e = err(&[], &["run.nmae=2024"]);
    assert!(e.contains("run.nmae") && e.contains("unknown field"), "{e}");
    // An enum takes its variant's name as text: a number is an unknown variant.
    let e = err(&[], &["train.loss_reduction=1"]);
    assert!(
        e.contains("`train.loss_reduction`") && e.contains("`1`"),
        "{e}"
    );
}
