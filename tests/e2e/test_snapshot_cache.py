"""The snapshot cache of list and prune on real engines (OpenSearch 3.3 with S3, Elasticsearch 9.2
with fs): the same answers with no cache, a cold one and a warm one; a snapshot deleted and taken
again under its name, and one in progress, shown as the engine has them now. Also prune --dry-run
on a repository registered read-only."""

import json
import re
import time

import pytest

PATTERN = "nightly-%Y%m%d-%H%M%S-%f"
READ = re.compile(r"(\d+) snapshots in \S+: (\d+) known from the cache \S+, (\d+) to read")


def _config(stack, name, unique, index, cache):
    node = stack.nodes[name]
    if name == "es":
        head = (
            f"[elasticsearch_config]\nes_repository_name = repo-{unique}\nes_src_seed1 = {node.url}\n"
            f"[source]\nusername = {node.username}\npassword = {node.password}\n"
            f"[repository]\ntype = fs\nlocation = {node.repo_path}/{unique}\n"
        )
    else:
        head = (
            f"[aws_s3_config]\ns3_bucket_name = {stack.s3.bucket}\ns3_base_path = cache/{unique}\n"
            f"[elasticsearch_config]\nes_repository_name = repo-{unique}\nes_src_seed1 = {node.url}\n"
            "[repository]\n"
        )
    return (
        head + "max_snapshot_bytes_per_sec = 20kb\n"  # small snapshots take a blink; 3,000 more documents seconds
        f"[elasticsearch_config]\nindex_names = {index}\nsnapshot_name = {PATTERN}\n"
        "[retention]\nkeep_last = 2\n[wait]\npoll_interval = 1\nmax_wait = 240\n"
        f"[cache]\ndir = {cache}\n"
    )


def _reads(result):
    """(listed, known from the cache, read from the engine) of a run with -v."""
    found = READ.search(result.err)
    assert found, result
    return tuple(int(n) for n in found.groups())


def _same_answers(cli, write, text, cache, *args):
    """Run ``args`` with the cache off, cold and warm: the three answers are the same; returns
    the warm run (-v) and the cold run's reads."""
    off = cli(*args, "-c", write(text + "[cache]\nenabled = false\n", "off.conf"))
    on = write(text, "on.conf")
    for stale in cache.iterdir():
        stale.unlink()
    cold = cli(*args, "-c", on, "-v")
    warm = cli(*args, "-c", on, "-vv")
    assert off.code == cold.code == warm.code == 0, (off, cold, warm)
    assert cold.out == off.out and warm.out == off.out, (off.out, cold.out, warm.out)
    # warm: only the short listing is asked, never the verbose one
    listings = [line for line in warm.err.splitlines() if "/_all?" in line and "status:" in line]
    assert listings and all("verbose=false" in line for line in listings), listings
    return warm, _reads(cold)


@pytest.mark.parametrize("engine", ["source", "es"])
def test_list_and_prune_give_the_same_answers_with_no_cold_and_warm_cache(
    stack, cli, write, unique, tmp_path, request, engine
):
    api = request.getfixturevalue("es" if engine == "es" else "src")
    index, repo = f"{unique}-c", f"repo-{unique}"
    api.seed(index, 5)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    text = _config(stack, engine, unique, index, cache)
    assert cli("-m", "list", "-c", write(text, "register.conf")).code == 0  # registers the repository

    def take(name, metadata=None, wait=True):
        body = {"indices": index, "include_global_state": False, **({"metadata": metadata} if metadata else {})}
        api("PUT", f"/_snapshot/{repo}/{name}?wait_for_completion={str(wait).lower()}", body)

    names = [f"nightly-20260101-000000-00000{n}" for n in range(1, 5)]
    for name in names:
        take(name, {"taken_by": "es-s3-snapshot"})
    take("hand-1")

    warm, cold_reads = _same_answers(cli, write, text, cache, "-m", "list", "--json")
    assert cold_reads == (5, 0, 5) and _reads(warm) == (5, 5, 0)
    data = json.loads(warm.out)
    assert [s["name"] for s in data if s["taken_by_us"]] == names[::-1] and len(data) == 5
    plan, _ = _same_answers(cli, write, text, cache, "-m", "prune", "--dry-run")
    assert "DRY RUN: would delete 2 of 5 snapshots" in plan.out and _reads(plan) == (5, 5, 0)

    # deleted and taken again under its name, by hand this time: the new snapshot's details
    api("DELETE", f"/_snapshot/{repo}/{names[1]}")
    time.sleep(1.5)  # a later start time than the others, even on the engine's cached clock
    take(names[1])
    warm, _ = _same_answers(cli, write, text, cache, "-m", "list", "--json")
    again = next(s for s in json.loads(warm.out) if s["name"] == names[1])
    assert again["taken_by_us"] is False and json.loads(warm.out)[0]["name"] == names[1]
    on = write(text, "on.conf")
    listed = cli("-m", "list", "--json", "-c", on, "-v")
    assert listed.out == warm.out and _reads(listed) == (5, 5, 0)

    # one in progress: read afresh, never kept, until it has ended
    api.seed(index, 20000, start=5)  # some hundreds of KB: many seconds at 20kb/s
    running = "nightly-20260101-000000-000009"
    take(running, {"taken_by": "es-s3-snapshot"}, wait=False)
    during = cli("-m", "list", "--json", "-c", on, "-v")
    assert during.code == 0, during
    assert next(s for s in json.loads(during.out) if s["name"] == running)["state"] == "IN_PROGRESS", during
    assert _reads(during) == (6, 5, 1)
    plan = cli("-m", "prune", "--dry-run", "-c", on, "-v")
    assert plan.code == 0, plan
    if f"{running}  IN_PROGRESS" in plan.out:  # unless it ended meanwhile
        assert f"keep    {running}  IN_PROGRESS  " in plan.out and _reads(plan) == (6, 5, 1)
    deadline = time.time() + 180
    while api("GET", f"/_snapshot/{repo}/{running}")["snapshots"][0]["state"] == "IN_PROGRESS":
        assert time.time() < deadline, "the throttled snapshot never ended"
        time.sleep(1)
    after = cli("-m", "list", "--json", "-c", on, "-v")
    assert next(s for s in json.loads(after.out) if s["name"] == running)["state"] == "SUCCESS"
    assert _reads(after) in ((6, 5, 1), (6, 6, 0))  # read now, or kept by the prune that saw it end
    warm, _ = _same_answers(cli, write, text, cache, "-m", "list", "--json")
    assert _reads(warm) == (6, 6, 0)
    [kept] = [json.loads(f.read_text()) for f in cache.iterdir()]
    assert len(kept["snapshots"]) == 6 and kept["repository"] == repo


def test_prune_dry_run_on_a_read_only_registration_prints_the_plan_and_says_a_prune_would_refuse(
    stack, src, cli, write, unique, tmp_path
):
    index, repo = f"{unique}-ro", f"repo-{unique}"
    src.seed(index, 5)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    text = _config(stack, "source", unique, index, cache)
    assert cli("-m", "list", "-c", write(text, "register.conf")).code == 0
    for n in range(1, 5):
        body = {"indices": index, "include_global_state": False, "metadata": {"taken_by": "es-s3-snapshot"}}
        src("PUT", f"/_snapshot/{repo}/nightly-20260101-000000-00000{n}?wait_for_completion=true", body)
    settings = src("GET", f"/_snapshot/{repo}")[repo]["settings"]
    src("PUT", f"/_snapshot/{repo}", {"type": "s3", "settings": {**settings, "readonly": True}})
    config = write(text)
    dry = cli("-m", "prune", "--dry-run", "-c", config)
    assert dry.code == 0, dry
    last = dry.out.strip().splitlines()[-1]
    assert last.startswith(f"DRY RUN: would delete 2 of 4 snapshots in repository {repo}; nothing was deleted; ")
    assert f"a real prune would refuse to run (exit 1): repository {repo} is registered read-only" in last
    assert "delete  nightly-20260101-000000-000001" in dry.out
    assert src("GET", f"/_snapshot/{repo}")[repo]["settings"]["readonly"] == "true"
    real = cli("-m", "prune", "-c", config)
    assert real.code == 1 and "registered read-only" in real.err, real
    assert len(src("GET", f"/_snapshot/{repo}/_all")["snapshots"]) == 4
