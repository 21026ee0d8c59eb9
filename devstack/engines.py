"""Engine versions, JDK discovery and fetching/unpacking of the engines.

Everything comes from Maven Central through ``mvn`` (so it lands in ~/.m2 and
works wherever Maven works).  Unpacked homes live in the cache directory and
are only ever created by unpacking into a staging directory and renaming it
into place, so an interrupted fetch is never reused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("devstack")

# --------------------------------------------------------------------------
# Versions.  Change here (or with the environment variables) to move engines.
# --------------------------------------------------------------------------

#: OpenSearch version.  Must be 3.3 or later: 3.0-3.2 send S3 trailing
#: checksums that S3-compatible stores reject, and 2.x has no repository-s3
#: artifact at all on Maven Central.  The repository-s3 plugin jar of the
#: same version must exist on Maven Central (3.1.0 ... 3.8.0 do).
OPENSEARCH_VERSION = os.environ.get("DEVSTACK_OPENSEARCH_VERSION", "3.3.2")

#: Elasticsearch version (integ-test zip).  9.x needs Java 21+.
ELASTICSEARCH_VERSION = os.environ.get("DEVSTACK_ELASTICSEARCH_VERSION", "9.2.4")

#: Used instead of ELASTICSEARCH_VERSION only when no JDK >= 21 is installed.
ELASTICSEARCH_FALLBACK_VERSION = "8.19.21"

#: Engine matrix (fs repositories only, security off): optional nodes ``es8``,
#: ``es7``, ``os2``, ``os1``.  Plain integ-test zips, nothing installed into them.
#: Each runs on the newest JDK within (min, max) -- the max matters: ES 7 and
#: OpenSearch 1.x/2.x rely on the Security Manager, which JDK 24+ no longer allows.
ES8_VERSION = os.environ.get("DEVSTACK_ES8_VERSION", "8.19.21")
ES7_VERSION = os.environ.get("DEVSTACK_ES7_VERSION", "7.17.29")
OS2_VERSION = os.environ.get("DEVSTACK_OS2_VERSION", "2.19.6")
OS1_VERSION = os.environ.get("DEVSTACK_OS1_VERSION", "1.3.20")
#: The last Elasticsearch whose snapshots OpenSearch reads (its integ-test zip is the OSS build).
ES710_VERSION = os.environ.get("DEVSTACK_ES710_VERSION", "7.10.2")

#: matrix key -> (engine, version, min Java, max Java)
MATRIX = {
    "es8": ("elasticsearch", ES8_VERSION, 17, 21),
    "es7": ("elasticsearch", ES7_VERSION, 11, 17),
    "os2": ("opensearch", OS2_VERSION, 11, 21),
    "os1": ("opensearch", OS1_VERSION, 11, 17),
    "es710": ("elasticsearch", ES710_VERSION, 11, 17),
}

#: What ``python -m devstack fetch`` fetches: the default stack's engines plus the matrix.
ALL_KINDS = ("opensearch", "elasticsearch", *MATRIX)

OPENSEARCH_ZIP = "org.opensearch.distribution.integ-test-zip:opensearch:{v}:zip"
OPENSEARCH_S3_PLUGIN = ("org.opensearch.plugin", "repository-s3")
ELASTICSEARCH_ZIP = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{v}:zip"

#: Bump when the way a home is assembled changes: older cached homes are rebuilt.
LAYOUT_VERSION = "3"
MARKER = ".devstack-layout"

JVM_ROOTS = ("/usr/lib/jvm",)

SHIM_SOURCE = Path(__file__).resolve().parent / "es_shim" / "DevstackAnalysisShim.java"


class FetchError(RuntimeError):
    """Raised when an engine cannot be fetched or assembled."""


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$DEVSTACK_CACHE_DIR`` or ``$XDG_CACHE_HOME/es-s3-snapshot-devstack``."""
    if os.environ.get("DEVSTACK_CACHE_DIR"):
        return Path(os.environ["DEVSTACK_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "es-s3-snapshot-devstack"


# --------------------------------------------------------------------------
# JDKs
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Jdk:
    home: str
    version: str  # e.g. "25.0.3"
    major: int
    has_javac: bool


def _parse_release(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r'^JAVA_VERSION="?([^"\n]+)"?', text, re.M)
    return m.group(1) if m else None


def _major(version: str) -> int:
    parts = version.split(".")
    if parts[0] == "1" and len(parts) > 1:  # 1.8.0_x
        return int(parts[1])
    return int(re.match(r"\d+", parts[0]).group(0))


def find_jdks() -> list[Jdk]:
    """All JDKs under /usr/lib/jvm (and $JAVA_HOME), newest first, de-duplicated."""
    candidates: list[Path] = []
    for root in JVM_ROOTS:
        p = Path(root)
        if p.is_dir():
            candidates.extend(sorted(p.iterdir()))
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    seen = set()
    found: list[Jdk] = []
    for c in candidates:
        try:
            real = c.resolve()
        except OSError:
            continue
        if real in seen or not (real / "bin" / "java").exists():
            continue
        seen.add(real)
        version = _parse_release(real / "release")
        if not version:
            continue
        try:
            major = _major(version)
        except (AttributeError, ValueError):
            continue
        found.append(Jdk(str(real), version, major, (real / "bin" / "javac").exists()))
    found.sort(key=lambda j: (j.major, j.version), reverse=True)
    return found


def pick_jdk(min_major: int, max_major: int | None = None, need_javac: bool = False) -> Jdk | None:
    """Newest JDK with ``min_major <= major <= max_major``."""
    for jdk in find_jdks():
        if jdk.major < min_major or (max_major is not None and jdk.major > max_major):
            continue
        if need_javac and not jdk.has_javac:
            continue
        return jdk
    return None


# --------------------------------------------------------------------------
# Engine descriptions
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    engine: str  # "opensearch" | "elasticsearch"
    version: str
    min_java: int
    max_java: int | None = None
    #: "opensearch" / "elasticsearch" for the default stack's engines, else the matrix key
    key: str = ""
    #: plain integ-test zip, nothing installed (matrix engines)
    plain: bool = False

    @property
    def dirname(self) -> str:
        return f"{self.engine}-{self.version}" + ("-plain" if self.plain else "")

    @property
    def java_home_env(self) -> str:
        """Environment variable that forces this engine's JDK."""
        return f"DEVSTACK_{(self.key or self.engine).upper()}_JAVA_HOME"


def _major_of(version: str) -> int:
    return int(version.split(".")[0])


def opensearch_spec(version: str = None) -> EngineSpec:
    version = version or OPENSEARCH_VERSION
    major = _major_of(version)
    return EngineSpec("opensearch", version, 21 if major >= 3 else 11)


def elasticsearch_spec(version: str = None) -> EngineSpec:
    version = version or ELASTICSEARCH_VERSION
    major = _major_of(version)
    spec = EngineSpec("elasticsearch", version, 21 if major >= 9 else 17)
    if version == ELASTICSEARCH_VERSION and not os.environ.get("DEVSTACK_ELASTICSEARCH_VERSION"):
        if pick_jdk(spec.min_java, need_javac=True) is None and ELASTICSEARCH_FALLBACK_VERSION:
            log.warning(
                "no JDK >= %d with javac found; using Elasticsearch %s instead of %s",
                spec.min_java,
                ELASTICSEARCH_FALLBACK_VERSION,
                version,
            )
            return EngineSpec("elasticsearch", ELASTICSEARCH_FALLBACK_VERSION, 17)
    return spec


def matrix_spec(key: str) -> EngineSpec:
    engine, version, min_java, max_java = MATRIX[key]
    return EngineSpec(engine, version, min_java, max_java, key=key, plain=True)


def spec_for(kind: str) -> EngineSpec:
    """``kind``: "opensearch", "elasticsearch" (default stack) or a MATRIX key ("es8", ...)."""
    if kind == "opensearch":
        return opensearch_spec()
    if kind == "elasticsearch":
        return elasticsearch_spec()
    if kind in MATRIX:
        return matrix_spec(kind)
    raise ValueError(f"unknown engine {kind!r}")


@dataclasses.dataclass(frozen=True)
class FetchedEngine:
    engine: str
    version: str
    home: str
    java_home: str
    java_version: str


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


def _run(
    cmd: list[str], *, what: str, cwd: str = None, env: dict[str, str] = None, input: str = None, timeout: float = 900
) -> str:
    log.debug("running %s", " ".join(cmd))
    try:
        p = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError as e:
        raise FetchError(f"{what}: {e.filename} not found (is it installed?)") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{what}: timed out after {timeout:.0f}s: {' '.join(cmd)}") from None
    if p.returncode != 0:
        raise FetchError(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n{_tail(p.stdout)}")
    return p.stdout


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise FetchError("mvn (Apache Maven) is not on PATH; it is needed to fetch engines from Maven Central")
    return mvn


def mvn_copy(artifact: str, outdir: Path) -> Path:
    """``mvn dependency:copy`` one artifact (G:A:V[:type]) into ``outdir``; returns the file."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.iterdir())
    _run(
        [_mvn(), "-q", "-B", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={outdir}"],
        what=f"fetching {artifact} from Maven Central",
        cwd=str(outdir),
    )
    new = [p for p in outdir.iterdir() if p not in before]
    if len(new) != 1:
        raise FetchError(f"fetching {artifact}: expected one new file in {outdir}, found {new}")
    return new[0]


def unzip(archive: Path, dest: Path) -> None:
    """Extract keeping Unix permission bits (zipfile alone drops them)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if not str(target.resolve()).startswith(str(dest.resolve())):
                raise FetchError(f"{archive}: unsafe path {info.filename}")
            mode = (info.external_attr >> 16) & 0o7777
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if mode:
                os.chmod(target, mode)


def _zip_dir(src: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(src).as_posix())


@contextlib.contextmanager
def _cache_lock(cache: Path):
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _artifact_name(jar: str) -> str:
    """``netty-codec-http2-4.1.125.Final.jar`` -> ``netty-codec-http2``."""
    m = re.match(r"^(.*?)-\d[^/]*\.jar$", jar)
    return m.group(1) if m else jar[:-4]


def _java_env(jdk: Jdk, engine: str) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("ES_JAVA_OPTS", "OPENSEARCH_JAVA_OPTS", "CLI_JAVA_OPTS", "JAVA_TOOL_OPTIONS"):
        env.pop(k, None)
    if engine == "elasticsearch":
        env.pop("JAVA_HOME", None)  # ES warns when both are set
        env["ES_JAVA_HOME"] = jdk.home
    else:
        env["JAVA_HOME"] = jdk.home
        env["OPENSEARCH_JAVA_HOME"] = jdk.home
    return env


# --------------------------------------------------------------------------
# OpenSearch: distribution + self-assembled repository-s3 plugin
# --------------------------------------------------------------------------

_S3_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.devstack</groupId>
  <artifactId>repository-s3-assembly</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""

# Same keys as buildSrc/src/main/resources/plugin-descriptor.properties upstream.
_S3_DESCRIPTOR = """\
description=The S3 repository plugin adds S3 repositories
version={version}
name=repository-s3
classname=org.opensearch.repositories.s3.S3RepositoryPlugin
java.version={java}
opensearch.version={version}
custom.foldername=
extended.plugins=
has.native.controller=false
"""

# Upstream plugins/repository-s3/src/main/plugin-metadata/plugin-security.policy.
# OpenSearch 3.x dropped the Security Manager but its Java agent still enforces
# plugin policies (socket connect, file access), so this file is required.
_S3_POLICY = """\
grant {
  permission java.lang.RuntimePermission "accessDeclaredMembers";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.lang.reflect.ReflectPermission "suppressAccessChecks";
  permission java.net.SocketPermission "*", "connect,resolve";
  permission java.net.NetPermission "setDefaultAuthenticator";
  permission java.util.PropertyPermission "opensearch.allow_insecure_settings", "read,write";
  permission java.util.PropertyPermission "aws.sharedCredentialsFile", "read,write";
  permission java.util.PropertyPermission "aws.configFile", "read,write";
  permission java.util.PropertyPermission "opensearch.path.conf", "read,write";
  permission java.io.FilePermission "config", "read";
};
"""


def assemble_s3_plugin(version: str, os_home: Path, work: Path) -> Path:
    """Build ``repository-s3-<version>.zip`` from the plugin jar and its POM dependencies.

    The plugin ZIP is not on Maven Central, but the jar and a POM listing every
    runtime dependency (each with ``exclusions *:*``) are.  A throw-away POM that
    depends on the plugin lets ``dependency:copy-dependencies`` resolve exactly
    that list.  Jars that OpenSearch already ships in lib/ (jackson-core,
    jackson-dataformat-cbor, joda-time) are dropped, as the real bundle does,
    otherwise jar-hell checks refuse the plugin.
    """
    group, artifact = OPENSEARCH_S3_PLUGIN
    pomdir = work / "s3-pom"
    pomdir.mkdir(parents=True)
    (pomdir / "pom.xml").write_text(_S3_POM.format(group=group, artifact=artifact, version=version))
    jars = work / "s3-jars"
    _run(
        [
            _mvn(),
            "-q",
            "-B",
            "-f",
            str(pomdir / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={jars}",
        ],
        what=f"fetching {group}:{artifact}:{version} and its dependencies from Maven Central",
    )
    plugin_jar = jars / f"{artifact}-{version}.jar"
    if not plugin_jar.exists():
        raise FetchError(f"{plugin_jar.name} was not fetched (is {group}:{artifact}:{version} on Maven Central?)")

    core = {_artifact_name(p.name) for p in (os_home / "lib").glob("*.jar")}
    bundle = work / "s3-bundle"
    bundle.mkdir()
    skipped = []
    for jar in sorted(jars.glob("*.jar")):
        if _artifact_name(jar.name) in core:
            skipped.append(jar.name)
            continue
        shutil.copy2(jar, bundle / jar.name)
    log.info(
        "repository-s3 %s: %d jars bundled, %d already in OpenSearch lib/ (%s)",
        version,
        len(list(bundle.glob("*.jar"))),
        len(skipped),
        ", ".join(skipped),
    )

    java = "21"
    with zipfile.ZipFile(plugin_jar) as zf:
        m = re.search(r"^X-Compile-Target-JDK:\s*(\S+)", zf.read("META-INF/MANIFEST.MF").decode(), re.M)
        if m:
            java = m.group(1)
    (bundle / "plugin-descriptor.properties").write_text(_S3_DESCRIPTOR.format(version=version, java=java))
    (bundle / "plugin-security.policy").write_text(_S3_POLICY)
    archive = work / f"repository-s3-{version}.zip"
    _zip_dir(bundle, archive)
    return archive


def _build_opensearch(spec: EngineSpec, jdk: Jdk, staging: Path) -> Path:
    home = _build_plain(spec, staging)
    plugin_zip = assemble_s3_plugin(spec.version, home, staging)
    env = _java_env(jdk, "opensearch")
    _run(
        [str(home / "bin" / "opensearch-plugin"), "install", "--batch", plugin_zip.as_uri()],
        what="installing repository-s3 into OpenSearch",
        env=env,
        cwd=str(home),
    )
    listed = _run([str(home / "bin" / "opensearch-plugin"), "list"], what="listing OpenSearch plugins", env=env)
    if "repository-s3" not in listed.split():
        raise FetchError(f"repository-s3 not listed after install:\n{listed}")
    return home


# --------------------------------------------------------------------------
# Elasticsearch: distribution + analysis shim for the security index
# --------------------------------------------------------------------------

_SHIM_DESCRIPTOR = """\
description=devstack test-only stand-in for the analysis-common parts the security index needs
version={version}
name=devstack-analysis-shim
classname=devstack.shim.DevstackAnalysisShim
java.version={java}
elasticsearch.version={version}
has.native.controller=false
"""


def _build_elasticsearch(spec: EngineSpec, jdk: Jdk, staging: Path) -> Path:
    home = _build_plain(spec, staging)
    if (home / "modules" / "analysis-common").exists():
        return home  # a distribution that has the real module needs no shim

    # The integ-test zip lacks modules/analysis-common, without which the
    # .security index cannot be created (native users, API keys).  Compile the
    # small shim plugin against the zip's own jars and install it.
    javac = Path(jdk.home) / "bin" / "javac"
    classes = staging / "shim-classes"
    classes.mkdir()
    _run(
        [
            str(javac),
            "--release",
            str(spec.min_java),
            "-proc:none",
            "-nowarn",
            "-d",
            str(classes),
            "-cp",
            str(home / "lib" / "*"),
            str(SHIM_SOURCE),
        ],
        what="compiling the Elasticsearch analysis shim",
    )
    bundle = staging / "shim-bundle"
    bundle.mkdir()
    with zipfile.ZipFile(bundle / "devstack-analysis-shim.jar", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: devstack\n\n")
        for p in sorted(classes.rglob("*.class")):
            zf.write(p, p.relative_to(classes).as_posix())
    (bundle / "plugin-descriptor.properties").write_text(
        _SHIM_DESCRIPTOR.format(version=spec.version, java=spec.min_java)
    )
    archive = staging / "devstack-analysis-shim.zip"
    _zip_dir(bundle, archive)
    env = _java_env(jdk, "elasticsearch")
    _run(
        [str(home / "bin" / "elasticsearch-plugin"), "install", "--batch", archive.as_uri()],
        what="installing the analysis shim into Elasticsearch",
        env=env,
        cwd=str(home),
    )
    return home


# --------------------------------------------------------------------------
# Matrix engines: the plain integ-test zip
# --------------------------------------------------------------------------


def _build_plain(spec: EngineSpec, staging: Path) -> Path:
    """Download and unpack the integ-test zip of ``spec``; the other builders start from this."""
    artifact = OPENSEARCH_ZIP if spec.engine == "opensearch" else ELASTICSEARCH_ZIP
    zip_path = mvn_copy(artifact.format(v=spec.version), staging / "download")
    unzip(zip_path, staging / "unpacked")
    home = staging / "unpacked" / f"{spec.engine}-{spec.version}"
    if not (home / "bin" / spec.engine).exists():
        raise FetchError(f"{zip_path.name} does not contain {spec.engine}-{spec.version}/bin/{spec.engine}")
    return home


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def _jdk_for(spec: EngineSpec) -> Jdk:
    need_javac = spec.engine == "elasticsearch" and not spec.plain  # javac builds the analysis shim
    forced = os.environ.get(spec.java_home_env)
    if forced:  # e.g. DEVSTACK_ELASTICSEARCH_JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64, DEVSTACK_ES7_JAVA_HOME
        home = Path(forced).resolve()
        version = _parse_release(home / "release")
        if not version or _major(version) < spec.min_java:
            raise FetchError(
                f"{forced} (JAVA_VERSION {version}) cannot run {spec.engine} {spec.version}: "
                f"needs Java >= {spec.min_java}"
            )
        return Jdk(str(home), version, _major(version), (home / "bin" / "javac").exists())
    jdk = pick_jdk(spec.min_java, spec.max_java, need_javac=need_javac)
    if jdk is None:
        have = ", ".join(f"{j.home} ({j.version})" for j in find_jdks()) or "none"
        upto = f" and <= {spec.max_java}" if spec.max_java else ""
        raise FetchError(
            f"{spec.engine} {spec.version} needs a JDK >= {spec.min_java}{upto}"
            f"{' with javac' if need_javac else ''} under {'/'.join(JVM_ROOTS)} (or {spec.java_home_env}); "
            f"found: {have}"
        )
    return jdk


def fetch_engine(spec: EngineSpec) -> FetchedEngine:
    """Make sure ``spec`` is unpacked (and its plugins installed) in the cache."""
    jdk = _jdk_for(spec)
    cache = cache_dir()
    final = cache / spec.dirname
    with _cache_lock(cache):
        marker = final / MARKER
        if marker.exists() and marker.read_text().strip() == LAYOUT_VERSION:
            return FetchedEngine(spec.engine, spec.version, str(final), jdk.home, jdk.version)
        for leftover in cache.glob(".staging-*"):  # interrupted earlier fetches (we hold the lock)
            shutil.rmtree(leftover, ignore_errors=True)
        log.info("fetching %s %s into %s (JDK %s)", spec.engine, spec.version, final, jdk.version)
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.dirname}-", dir=cache))
        try:
            if spec.plain:
                home = _build_plain(spec, staging)
            elif spec.engine == "opensearch":
                home = _build_opensearch(spec, jdk, staging)
            else:
                home = _build_elasticsearch(spec, jdk, staging)
            (home / MARKER).write_text(LAYOUT_VERSION + "\n")
            if final.exists():  # stale layout: move aside, then delete
                old = Path(tempfile.mkdtemp(prefix=f".old-{spec.dirname}-", dir=cache))
                os.rename(final, old / "home")
                shutil.rmtree(old, ignore_errors=True)
            os.rename(home, final)
            log.info("fetched %s %s in %.1fs", spec.engine, spec.version, time.monotonic() - started)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return FetchedEngine(spec.engine, spec.version, str(final), jdk.home, jdk.version)


def fetch_all(engines: Iterable[str] = ALL_KINDS) -> dict[str, FetchedEngine]:
    """Fetch and unpack every engine kind in ``engines`` ("opensearch", "elasticsearch" or a
    MATRIX key; default: all of them); returns kind -> FetchedEngine."""
    return {kind: fetch_engine(spec_for(kind)) for kind in engines}


#: The second S3 implementation (filesystem backend), a plain jar run on any JDK >= 17.
S3PROXY_VERSION = os.environ.get("DEVSTACK_S3PROXY_VERSION", "2.4.1")
S3PROXY_ARTIFACT = "org.gaul:s3proxy:{v}:jar:jar-with-dependencies"


def fetch_s3proxy() -> tuple[Path, Jdk]:
    """The s3proxy jar (Maven Central, through ~/.m2) in the cache, and the JDK to run it on."""
    jdk = pick_jdk(17)
    if jdk is None:
        raise FetchError(f"s3proxy {S3PROXY_VERSION} needs a JDK >= 17 under {'/'.join(JVM_ROOTS)}")
    cache = cache_dir()
    final = cache / f"s3proxy-{S3PROXY_VERSION}.jar"
    with _cache_lock(cache):
        if not final.exists():
            staging = Path(tempfile.mkdtemp(prefix=".staging-s3proxy-", dir=cache))
            try:
                jar = mvn_copy(S3PROXY_ARTIFACT.format(v=S3PROXY_VERSION), staging)
                os.rename(jar, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return final, jdk


def clean_staging() -> list[str]:
    """Remove leftovers of interrupted fetches (only when no fetch holds the lock)."""
    cache = cache_dir()
    removed = []
    if not cache.exists():
        return removed
    with _cache_lock(cache):
        for p in cache.iterdir():
            if p.name.startswith((".staging-", ".old-")):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(str(p))
    return removed
