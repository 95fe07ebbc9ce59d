//! Finding and loading plugin `.so` files.
//!
//! Each file is opened once per process by absolute path and never unloaded (Rust libraries with
//! thread-local destructors crash on `dlclose`). abi_stable's `load_from_directory` caches one
//! module per interface type, so a second plugin would silently come back as the first; we go
//! through `lib_header_from_path` + `init_root_module` for every file instead.

use crate::error::{Error, Result};
use abi_stable::library::{lib_header_from_path, LibraryError};
use hepinfer_plugin_api::{
    PluginInfo, PluginModRef, StagedExport, StagedModRef, PLUGIN_ABI_VERSION, STAGED_SYMBOL,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable with extra plugin directories, colon-separated.
pub const PLUGIN_PATH_ENV: &str = "HEPINFER_PLUGIN_PATH";

/// A plugin library loaded into the process.
pub struct LoadedPlugin {
    /// What the plugin declares.
    pub info: PluginInfo,
    /// Absolute path of its `.so`.
    pub path: PathBuf,
    /// Its root module.
    pub module: PluginModRef,
    /// Its staged-call module (plugin ABI 1.1), `None` for plugins built before it.
    pub staged: Option<StagedModRef>,
}

// Files already opened in this process, by canonical path: loaded once, whatever the number of hosts.
static LOADED: Mutex<Option<HashMap<PathBuf, Arc<LoadedPlugin>>>> = Mutex::new(None);

fn describe(e: &LibraryError) -> String {
    match e {
        LibraryError::OpenError { .. } => format!("cannot be opened: {e}"),
        LibraryError::GetSymbolError { .. } => {
            "is not a hepinfer plugin (it exports no abi_stable root module)".into()
        }
        LibraryError::IncompatibleVersionNumber { .. } => format!(
            "was built against an incompatible hepinfer-plugin-api version: {e}; rebuild it against this host"
        ),
        // abi_stable's report of the layout difference runs to ~130 lines: one line says it all.
        LibraryError::AbiInstability(_) => "has an incompatible plugin ABI layout (built against another hepinfer-plugin-api or abi_stable); rebuild it against this host".into(),
        LibraryError::InvalidAbiHeader(_) => format!("was built with an incompatible abi_stable: {e}"),
        _ => e.to_string(),
    }
}

/// Loads the plugin at `path` (or returns the copy already loaded).
pub fn load_plugin(path: &Path) -> Result<Arc<LoadedPlugin>> {
    let path = path
        .canonicalize()
        .map_err(|e| Error::PluginLoad(format!("plugin '{}': {e}", path.display())))?;
    let mut guard = LOADED.lock();
    let loaded = guard.get_or_insert_with(HashMap::new);
    if let Some(p) = loaded.get(&path) {
        return Ok(p.clone());
    }
    let fail = |msg: String| Error::PluginLoad(format!("'{}' {msg}", path.display()));
    let header = lib_header_from_path(&path).map_err(|e| fail(describe(&e)))?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| fail(describe(&e)))?;
    let abi = module.abi_version();
    if abi != PLUGIN_ABI_VERSION {
        return Err(fail(format!(
            "declares plugin ABI version {abi}, this host speaks version {PLUGIN_ABI_VERSION}; rebuild the plugin"
        )));
    }
    let info = (module.info())()
        .into_result()
        .map_err(|e| fail(format!("failed to describe itself: {}", e.message)))?;
    if info.name.is_empty() {
        return Err(fail("declares an empty plugin name".into()));
    }
    let staged = staged_module(&path).map_err(fail)?;
    let plugin = Arc::new(LoadedPlugin {
        info,
        path: path.clone(),
        module,
        staged,
    });
    loaded.insert(path, plugin.clone());
    Ok(plugin)
}

/// The staged-call module of the plugin at `path` (already loaded and checked by abi_stable),
/// with its layout checked against the host's; `None` when the plugin predates it.
fn staged_module(path: &Path) -> std::result::Result<Option<StagedModRef>, String> {
    // SAFETY: the library is loaded already (its root module passed abi_stable's checks); this
    // takes another reference to it, never released (plugins are never unloaded).
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot be reopened: {e}"))?;
    let export = {
        // SAFETY: the symbol, when present, is the `extern "C" fn() -> StagedExport` that
        // `export_plugin!` defines; its result's layout is checked below before any use.
        let f = match unsafe { lib.get::<extern "C" fn() -> StagedExport>(STAGED_SYMBOL) } {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        f()
    };
    std::mem::forget(lib);
    let want = <StagedModRef as abi_stable::StableAbi>::LAYOUT;
    abi_stable::abi_stability::abi_checking::check_layout_compatibility(want, export.layout)
        .map_err(|e| format!("has an incompatible staged-call module (plugin ABI 1.1): {e}"))?;
    Ok(Some(export.module))
}

/// The directories to search: configured ones, then `HEPINFER_PLUGIN_PATH`, then the plugin
/// directory of an installed tree (`<libdir>/hepinfer/plugins`) when it exists. A directory that
/// was asked for explicitly and does not exist is an error.
pub fn search_dirs(configured: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for d in configured {
        if !d.is_dir() {
            return Err(Error::PluginLoad(format!(
                "plugin directory '{}' (host config plugin_dirs) does not exist or is not a directory",
                d.display()
            )));
        }
        dirs.push(d.clone());
    }
    if let Some(var) = std::env::var_os(PLUGIN_PATH_ENV) {
        for d in std::env::split_paths(&var).filter(|d| !d.as_os_str().is_empty()) {
            if !d.is_dir() {
                return Err(Error::PluginLoad(format!(
                    "plugin directory '{}' (from {PLUGIN_PATH_ENV}) does not exist or is not a directory",
                    d.display()
                )));
            }
            dirs.push(d);
        }
    }
    if let Some(lib) = crate::paths::library_dir() {
        let installed = lib.join("hepinfer").join("plugins");
        if installed.is_dir() {
            dirs.push(installed);
        }
    }
    // The same directory named twice is searched once.
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
    Ok(dirs)
}

/// All plugins found in a set of directories, by name.
#[derive(Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
}

impl PluginRegistry {
    /// Loads every `*.so` in `dirs`. Any file that is not a loadable plugin (a stray library
    /// too), and two plugins with one name, are errors that say so: a release whose plugin
    /// directory is broken should not half-run.
    pub fn scan(dirs: &[PathBuf]) -> Result<Self> {
        let mut plugins: BTreeMap<String, Arc<LoadedPlugin>> = BTreeMap::new();
        for dir in dirs {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                Error::PluginLoad(format!(
                    "cannot read plugin directory '{}': {e}",
                    dir.display()
                ))
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "so") && p.is_file())
                .collect();
            files.sort();
            for f in files {
                let p = load_plugin(&f).map_err(|e| match e {
                    Error::PluginLoad(msg) => Error::PluginLoad(format!(
                        "{msg}. Every *.so file in a plugin directory must be a loadable hepinfer \
                         plugin (the scan is strict so that a broken release does not half-run): \
                         move '{}' out of '{}' or fix it",
                        f.display(),
                        dir.display()
                    )),
                    other => other,
                })?;
                let name = p.info.name.to_string();
                if let Some(other) = plugins.get(&name) {
                    if other.path != p.path {
                        return Err(Error::PluginLoad(format!(
                            "two plugins are named '{name}': '{}' and '{}'",
                            other.path.display(),
                            p.path.display()
                        )));
                    }
                }
                plugins.insert(name, p);
            }
        }
        Ok(PluginRegistry { plugins })
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Result<&Arc<LoadedPlugin>> {
        self.plugins.get(name).ok_or_else(|| Error::UnknownPlugin {
            name: name.to_string(),
            known: if self.plugins.is_empty() {
                "(none found: check plugin_dirs and HEPINFER_PLUGIN_PATH)".into()
            } else {
                self.names().join(", ")
            },
        })
    }

    /// Names of all plugins, sorted.
    pub fn names(&self) -> Vec<String> {
        self.plugins.keys().cloned().collect()
    }

    /// All plugins, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.plugins.values()
    }
}

/// A JSON description of a loaded plugin (for `hepinfer plugins` and the C API).
pub fn describe_json(p: &LoadedPlugin) -> serde_json::Value {
    let spec = |s: &hepinfer_plugin_api::TensorSpec| {
        serde_json::json!({
            "name": s.name.as_str(), "dtype": s.dtype.name(), "shape": s.shape_string(),
            "jagged": s.jagged, "groups": s.groups.as_str(), "finite": s.finite, "doc": s.doc.as_str(),
        })
    };
    serde_json::json!({
        "name": p.info.name.as_str(),
        "version": p.info.version.as_str(),
        "description": p.info.description.as_str(),
        "path": p.path.display().to_string(),
        "inputs": p.info.inputs.iter().map(spec).collect::<Vec<_>>(),
        "outputs": p.info.outputs.iter().map(spec).collect::<Vec<_>>(),
        "models": p.info.models.iter().map(|m| serde_json::json!({
            "name": m.name.as_str(), "record": m.record.as_str(), "label": m.label.as_str(),
            "inputs": m.inputs.iter().map(spec).collect::<Vec<_>>(), "doc": m.doc.as_str(),
        })).collect::<Vec<_>>(),
        "config": p.info.config_doc.as_str(),
    })
}
