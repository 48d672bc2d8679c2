"""Property-based tests of the core's value rules."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.clock import RandomIds
from core.errors import InvalidArgument
from core.model import ExpirationConfig, ExpirationPolicy, Tool
from core.ports import ThreadPosition
from core.threads import decode_page_token, encode_page_token
from core.tools import file_search_ids, with_file_search_ids
from core.validation import MAX_LABEL_KEY, MAX_LABEL_VALUE, MAX_LABELS, check_labels

labels = st.dictionaries(st.text(max_size=70), st.text(max_size=520), max_size=20)


@given(labels)
def test_labels_are_accepted_exactly_within_openai_limits_and_without_nul(value: dict[str, str]) -> None:
    within = len(value) <= MAX_LABELS and all(
        len(k) <= MAX_LABEL_KEY and len(v) <= MAX_LABEL_VALUE and "\x00" not in k + v
        for k, v in value.items()
    )
    try:
        assert check_labels(value) == value
        accepted = True
    except InvalidArgument as exc:
        accepted = False
        assert exc.field == "labels" or exc.field.startswith("labels.")
    assert accepted == within


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(
    moments,
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1, max_size=40),
)
def test_page_tokens_round_trip(moment: datetime, thread_id: str) -> None:
    position = ThreadPosition(created_at=moment, thread_id=thread_id)
    assert decode_page_token(encode_page_token(position)) == position


@given(st.text(max_size=60))
def test_any_page_token_decodes_or_is_invalid_argument(token: str) -> None:
    try:
        decode_page_token(token)
    except InvalidArgument as exc:
        assert exc.field == "page_token"


@given(moments, moments, st.integers(min_value=1, max_value=365), st.sampled_from(list(ExpirationPolicy)))
def test_expires_at_follows_the_policy(
    created: datetime, active: datetime, ttl: int, policy: ExpirationPolicy
) -> None:
    config = ExpirationConfig(policy=policy, ttl_days=ttl)
    base = created if policy is ExpirationPolicy.STATIC else active
    assert config.expires_at(created, active) == base + timedelta(days=ttl)


ids = st.lists(st.text(min_size=1, max_size=8), max_size=3).map(tuple)
tool_lists = st.lists(
    st.one_of(
        st.builds(lambda i: Tool("search_index", {"search_index_ids": list(i), "max_num_results": "3"}), ids),
        st.builds(lambda n: Tool("function", {"name": n}), st.text(max_size=5)),
    ),
    max_size=4,
).map(tuple)


@given(tool_lists, st.one_of(st.none(), ids))
def test_file_search_ids_set_then_read(tools: tuple[Tool, ...], new_ids: tuple[str, ...] | None) -> None:
    changed = with_file_search_ids(tools, new_ids)
    assert file_search_ids(changed) == new_ids
    # tools OpenAI cannot see are never touched
    assert [t for t in changed if t.kind != "search_index"] == [t for t in tools if t.kind != "search_index"]
    if new_ids is not None and any(t.kind == "search_index" for t in tools):
        first = next(t for t in changed if t.kind == "search_index")
        assert first.spec["max_num_results"] == "3"  # its other settings are kept


def test_random_ids_have_the_documented_shape_and_do_not_repeat() -> None:
    ids = RandomIds()
    made = [ids.new_id("thread_") for _ in range(5_000)]
    assert len(set(made)) == len(made)
    for made_id in made:
        assert made_id.startswith("thread_") and len(made_id) == len("thread_") + RandomIds.LENGTH
        assert made_id[len("thread_") :].isalnum() and made_id.isascii()
    # every character of the alphabet turns up, roughly equally often (no modulo bias)
    counts = Counter("".join(m[len("thread_") :] for m in made))
    assert len(counts) == 62
    expected = 5_000 * RandomIds.LENGTH / 62
    assert all(abs(n - expected) < 0.15 * expected for n in counts.values())
