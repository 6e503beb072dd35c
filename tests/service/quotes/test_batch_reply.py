"""A portfolio's answer in chunks: the same bytes as encoded whole, items let go as
they are written."""

from __future__ import annotations

import sys

import msgspec
import pytest

from service.errors import ErrorDetail, FieldError
from service.quotes.batch_reply import batch_chunks
from service.quotes.schemas import BatchItem, QuoteBatchResponse


def _answer(n: int) -> QuoteBatchResponse:
    items = [
        BatchItem(
            index=i,
            status=422,
            error=ErrorDetail(
                status=422,
                code="invalid_input",
                message=f'项目 {i} – "bad"',
                fields=[FieldError(f"items[{i}].months[0].worker_hours", "must be ≥ 0")],
            ),
        )
        for i in range(n)
    ]
    return QuoteBatchResponse(priced=0, failed=n, items=items)


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 100])
@pytest.mark.parametrize("chunk", [1, 32, 1000])
def test_the_chunks_join_to_the_whole_answer(n: int, chunk: int) -> None:
    answer = _answer(n)
    whole = msgspec.json.encode(answer)
    parts = list(batch_chunks(answer, chunk))
    assert b"".join(parts) == whole
    assert len(parts) == 2 + -(-n // chunk)
    assert msgspec.json.decode(b"".join(parts), type=QuoteBatchResponse) == answer


def test_an_item_is_let_go_once_written() -> None:
    answer = _answer(3)
    first, last = answer.items[0], answer.items[-1]
    chunks = batch_chunks(answer, chunk=1)
    next(chunks)  # the head; the stream now holds every item
    held_first, held_last = sys.getrefcount(first), sys.getrefcount(last)
    next(chunks)
    assert sys.getrefcount(first) == held_first - 1
    assert sys.getrefcount(last) == held_last
