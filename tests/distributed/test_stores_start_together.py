"""Workers and API processes starting at the same moment each open the eventsourcing
stores on PostgreSQL; creating their tables must not race ('type ... already exists')."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from api.users import UserDirectory
from engine.definitions import Definitions
from engine.offers import OfferBook
from tests.support import PG


def test_stores_opened_at_once_on_a_fresh_schema_all_start(pg_schema):
    openers = [lambda: Definitions.from_postgres(PG, pg_schema), lambda: OfferBook.from_postgres(PG, pg_schema),
               lambda: UserDirectory.from_postgres(PG, pg_schema)] * 3
    with ThreadPoolExecutor(len(openers)) as pool:
        stores = list(pool.map(lambda open_store: open_store(), openers))
    try:
        assert len(stores) == 9
    finally:
        for store in stores:
            store.close()
