"""Entity CRUD and queries as an NGSI-LD client sees them."""

from __future__ import annotations

from .conftest import LD, ApiClient, site

E = "/ngsi-ld/v1/entities"


async def test_create_get_query_delete(api: ApiClient) -> None:
    r = await api.post(E, site(1, 300))
    assert r.status == 201, r.body
    assert r.headers["Location"] == f"{E}/{site(1)['id']}"  # a URN stays readable
    assert (await api.post(E, site(1))).status == 409
    got = await api.get(f"{E}/{site(1)['id']}")
    assert got.status == 200
    assert got.json()["capacity"] == {"type": "Property", "value": 300}
    assert "Link" in got.headers
    for i in range(2, 6):
        assert (await api.post(E, site(i, 100 * i))).status == 201
    page = await api.get(E, params={"type": "EvacuationSite", "limit": "2", "count": "true"})
    assert page.status == 200
    assert page.headers["NGSILD-Results-Count"] == "5"
    assert [e["id"] for e in page.json()] == [site(1)["id"], site(2)["id"]]
    q = await api.get(E, params={"type": "EvacuationSite", "q": "capacity>=400"})
    assert sorted(e["capacity"]["value"] for e in q.json()) == [400, 500]
    kv = await api.get(E, params={"type": "EvacuationSite", "q": "capacity==300",
                                  "options": "keyValues"})
    assert kv.json()[0]["capacity"] == 300
    ld = await api.get(E, params={"type": "EvacuationSite", "id": site(2)["id"]},
                       headers={"Accept": LD})
    assert ld.headers["Content-Type"].startswith(LD)
    assert "@context" in ld.json()[0]
    assert (await api.call("DELETE", f"{E}/{site(1)['id']}")).status == 204
    missing = await api.get(f"{E}/{site(1)['id']}")
    assert missing.status == 404
    assert missing.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"


async def test_pages_of_stored_bytes_are_the_entities_in_id_order(renkei: ApiClient) -> None:
    """The fast path (stored bytes, no decoding) returns exactly what one-by-one reads do."""
    order = [7, 3, 11, 1, 9, 5, 2, 12, 8, 4, 10, 6]
    r = await renkei.post("/ngsi-ld/v1/entityOperations/create",
                          [site(i, 10 * i) for i in order])
    assert r.status == 201
    one_by_one = [(await renkei.get(f"{E}/{site(i)['id']}")).json() for i in sorted(order)]
    pages = []
    for offset in range(0, 12, 5):
        page = await renkei.get(E, params={"type": "EvacuationSite", "limit": "5",
                                           "offset": str(offset)})
        pages += page.json()
        has_next = any('rel="next"' in link for link in page.headers.getall("Link"))
        assert has_next == (offset + 5 < 12), offset
    assert pages == one_by_one
    ld = await renkei.get(E, params={"type": "EvacuationSite", "limit": "12"},
                          headers={"Accept": LD})
    assert [{k: v for k, v in e.items() if k != "@context"} for e in ld.json()] == one_by_one
    assert [e["capacity"]["value"] for e in pages] == [10 * i for i in sorted(order)]
