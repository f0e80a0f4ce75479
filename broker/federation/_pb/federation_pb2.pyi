# Generated from proto/renkei/federation/v1/federation.proto by `make proto`. Do not edit.
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GeoFilter(_message.Message):
    __slots__ = ("near", "within_geojson")
    NEAR_FIELD_NUMBER: _ClassVar[int]
    WITHIN_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    near: Near
    within_geojson: bytes
    def __init__(self, near: _Optional[_Union[Near, _Mapping]] = ..., within_geojson: _Optional[bytes] = ...) -> None: ...

class Near(_message.Message):
    __slots__ = ("longitude", "latitude", "max_distance_m")
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    MAX_DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    longitude: float
    latitude: float
    max_distance_m: float
    def __init__(self, longitude: _Optional[float] = ..., latitude: _Optional[float] = ..., max_distance_m: _Optional[float] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("attribute", "op", "value_json")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OP_UNSPECIFIED: _ClassVar[Condition.Op]
        EQ: _ClassVar[Condition.Op]
        NE: _ClassVar[Condition.Op]
        GT: _ClassVar[Condition.Op]
        GE: _ClassVar[Condition.Op]
        LT: _ClassVar[Condition.Op]
        LE: _ClassVar[Condition.Op]
    OP_UNSPECIFIED: Condition.Op
    EQ: Condition.Op
    NE: Condition.Op
    GT: Condition.Op
    GE: Condition.Op
    LT: Condition.Op
    LE: Condition.Op
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    op: Condition.Op
    value_json: str
    def __init__(self, attribute: _Optional[str] = ..., op: _Optional[_Union[Condition.Op, str]] = ..., value_json: _Optional[str] = ...) -> None: ...

class Routing(_message.Message):
    __slots__ = ("via", "hops_left")
    VIA_FIELD_NUMBER: _ClassVar[int]
    HOPS_LEFT_FIELD_NUMBER: _ClassVar[int]
    via: _containers.RepeatedScalarFieldContainer[str]
    hops_left: int
    def __init__(self, via: _Optional[_Iterable[str]] = ..., hops_left: _Optional[int] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("types", "ids", "id_pattern", "attrs", "q", "geo", "limit", "page_token", "purpose", "agreement_id", "routing", "filter_attrs")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    ID_PATTERN_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    FILTER_ATTRS_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    ids: _containers.RepeatedScalarFieldContainer[str]
    id_pattern: str
    attrs: _containers.RepeatedScalarFieldContainer[str]
    q: _containers.RepeatedCompositeFieldContainer[Condition]
    geo: GeoFilter
    limit: int
    page_token: str
    purpose: str
    agreement_id: str
    routing: Routing
    filter_attrs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, types: _Optional[_Iterable[str]] = ..., ids: _Optional[_Iterable[str]] = ..., id_pattern: _Optional[str] = ..., attrs: _Optional[_Iterable[str]] = ..., q: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., geo: _Optional[_Union[GeoFilter, _Mapping]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ..., purpose: _Optional[str] = ..., agreement_id: _Optional[str] = ..., routing: _Optional[_Union[Routing, _Mapping]] = ..., filter_attrs: _Optional[_Iterable[str]] = ...) -> None: ...

class TemporalQueryRequest(_message.Message):
    __slots__ = ("query", "timerel", "time_at", "end_time_at", "timeproperty", "last_n")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TIMEREL_FIELD_NUMBER: _ClassVar[int]
    TIME_AT_FIELD_NUMBER: _ClassVar[int]
    END_TIME_AT_FIELD_NUMBER: _ClassVar[int]
    TIMEPROPERTY_FIELD_NUMBER: _ClassVar[int]
    LAST_N_FIELD_NUMBER: _ClassVar[int]
    query: QueryRequest
    timerel: str
    time_at: float
    end_time_at: float
    timeproperty: str
    last_n: int
    def __init__(self, query: _Optional[_Union[QueryRequest, _Mapping]] = ..., timerel: _Optional[str] = ..., time_at: _Optional[float] = ..., end_time_at: _Optional[float] = ..., timeproperty: _Optional[str] = ..., last_n: _Optional[int] = ...) -> None: ...

class EntityBatch(_message.Message):
    __slots__ = ("entities",)
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, entities: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("jws",)
    JWS_FIELD_NUMBER: _ClassVar[int]
    jws: str
    def __init__(self, jws: _Optional[str] = ...) -> None: ...

class QuerySummary(_message.Message):
    __slots__ = ("count", "next_page_token", "receipt")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    count: int
    next_page_token: str
    receipt: Receipt
    def __init__(self, count: _Optional[int] = ..., next_page_token: _Optional[str] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("batch", "summary")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    batch: EntityBatch
    summary: QuerySummary
    def __init__(self, batch: _Optional[_Union[EntityBatch, _Mapping]] = ..., summary: _Optional[_Union[QuerySummary, _Mapping]] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("id", "attrs", "purpose", "agreement_id", "routing")
    ID_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    id: str
    attrs: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    agreement_id: str
    routing: Routing
    def __init__(self, id: _Optional[str] = ..., attrs: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ..., agreement_id: _Optional[str] = ..., routing: _Optional[_Union[Routing, _Mapping]] = ...) -> None: ...

class GetEntityResponse(_message.Message):
    __slots__ = ("entity", "receipt")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    entity: bytes
    receipt: Receipt
    def __init__(self, entity: _Optional[bytes] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class AggregateRequest(_message.Message):
    __slots__ = ("types", "attribute", "functions", "group_by", "by_city", "q", "geo", "purpose", "agreement_id", "routing")
    class Function(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FUNCTION_UNSPECIFIED: _ClassVar[AggregateRequest.Function]
        COUNT: _ClassVar[AggregateRequest.Function]
        SUM: _ClassVar[AggregateRequest.Function]
        AVG: _ClassVar[AggregateRequest.Function]
        MIN: _ClassVar[AggregateRequest.Function]
        MAX: _ClassVar[AggregateRequest.Function]
    FUNCTION_UNSPECIFIED: AggregateRequest.Function
    COUNT: AggregateRequest.Function
    SUM: AggregateRequest.Function
    AVG: AggregateRequest.Function
    MIN: AggregateRequest.Function
    MAX: AggregateRequest.Function
    TYPES_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    BY_CITY_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    attribute: str
    functions: _containers.RepeatedScalarFieldContainer[AggregateRequest.Function]
    group_by: str
    by_city: bool
    q: _containers.RepeatedCompositeFieldContainer[Condition]
    geo: GeoFilter
    purpose: str
    agreement_id: str
    routing: Routing
    def __init__(self, types: _Optional[_Iterable[str]] = ..., attribute: _Optional[str] = ..., functions: _Optional[_Iterable[_Union[AggregateRequest.Function, str]]] = ..., group_by: _Optional[str] = ..., by_city: _Optional[bool] = ..., q: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., geo: _Optional[_Union[GeoFilter, _Mapping]] = ..., purpose: _Optional[str] = ..., agreement_id: _Optional[str] = ..., routing: _Optional[_Union[Routing, _Mapping]] = ...) -> None: ...

class AggregateGroup(_message.Message):
    __slots__ = ("key", "count", "sum", "min", "max", "suppressed", "value_count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    VALUE_COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    count: int
    sum: float
    min: float
    max: float
    suppressed: bool
    value_count: int
    def __init__(self, key: _Optional[str] = ..., count: _Optional[int] = ..., sum: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., suppressed: _Optional[bool] = ..., value_count: _Optional[int] = ...) -> None: ...

class AggregateResponse(_message.Message):
    __slots__ = ("groups", "provider", "receipt")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[AggregateGroup]
    provider: str
    receipt: Receipt
    def __init__(self, groups: _Optional[_Iterable[_Union[AggregateGroup, _Mapping]]] = ..., provider: _Optional[str] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("types", "q", "geo", "after_cursor", "purpose", "agreement_id", "heartbeat_seconds", "from_now", "opaque_cursors")
    TYPES_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    GEO_FIELD_NUMBER: _ClassVar[int]
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FROM_NOW_FIELD_NUMBER: _ClassVar[int]
    OPAQUE_CURSORS_FIELD_NUMBER: _ClassVar[int]
    types: _containers.RepeatedScalarFieldContainer[str]
    q: _containers.RepeatedCompositeFieldContainer[Condition]
    geo: GeoFilter
    after_cursor: int
    purpose: str
    agreement_id: str
    heartbeat_seconds: int
    from_now: bool
    opaque_cursors: bool
    def __init__(self, types: _Optional[_Iterable[str]] = ..., q: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., geo: _Optional[_Union[GeoFilter, _Mapping]] = ..., after_cursor: _Optional[int] = ..., purpose: _Optional[str] = ..., agreement_id: _Optional[str] = ..., heartbeat_seconds: _Optional[int] = ..., from_now: _Optional[bool] = ..., opaque_cursors: _Optional[bool] = ...) -> None: ...

class ChangeEvent(_message.Message):
    __slots__ = ("kind", "cursor", "entity_id", "entity", "content_hash")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ChangeEvent.Kind]
        CREATED: _ClassVar[ChangeEvent.Kind]
        UPDATED: _ClassVar[ChangeEvent.Kind]
        DELETED: _ClassVar[ChangeEvent.Kind]
        HEARTBEAT: _ClassVar[ChangeEvent.Kind]
    KIND_UNSPECIFIED: ChangeEvent.Kind
    CREATED: ChangeEvent.Kind
    UPDATED: ChangeEvent.Kind
    DELETED: ChangeEvent.Kind
    HEARTBEAT: ChangeEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    kind: ChangeEvent.Kind
    cursor: int
    entity_id: str
    entity: bytes
    content_hash: str
    def __init__(self, kind: _Optional[_Union[ChangeEvent.Kind, str]] = ..., cursor: _Optional[int] = ..., entity_id: _Optional[str] = ..., entity: _Optional[bytes] = ..., content_hash: _Optional[str] = ...) -> None: ...

class CatalogRequest(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    def __init__(self, purpose: _Optional[str] = ...) -> None: ...

class CatalogDataset(_message.Message):
    __slots__ = ("identifier", "title", "description", "publisher", "license", "entity_type", "attributes", "spatial_geojson", "entity_count", "accrual_periodicity", "modified", "agreement_id", "aggregate_only")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    ENTITY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCRUAL_PERIODICITY_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    title: str
    description: str
    publisher: str
    license: str
    entity_type: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    spatial_geojson: bytes
    entity_count: int
    accrual_periodicity: str
    modified: str
    agreement_id: str
    aggregate_only: bool
    def __init__(self, identifier: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., publisher: _Optional[str] = ..., license: _Optional[str] = ..., entity_type: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., spatial_geojson: _Optional[bytes] = ..., entity_count: _Optional[int] = ..., accrual_periodicity: _Optional[str] = ..., modified: _Optional[str] = ..., agreement_id: _Optional[str] = ..., aggregate_only: _Optional[bool] = ...) -> None: ...

class CatalogResponse(_message.Message):
    __slots__ = ("provider", "datasets", "offers")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    datasets: _containers.RepeatedCompositeFieldContainer[CatalogDataset]
    offers: _containers.RepeatedCompositeFieldContainer[CatalogOffer]
    def __init__(self, provider: _Optional[str] = ..., datasets: _Optional[_Iterable[_Union[CatalogDataset, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[CatalogOffer, _Mapping]]] = ...) -> None: ...

class CatalogOffer(_message.Message):
    __slots__ = ("entity_type", "attributes", "license", "publisher")
    ENTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    entity_type: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    license: str
    publisher: str
    def __init__(self, entity_type: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., license: _Optional[str] = ..., publisher: _Optional[str] = ...) -> None: ...

class AgreementEnvelope(_message.Message):
    __slots__ = ("document", "signatures", "state")
    class SignaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    signatures: _containers.ScalarMap[str, str]
    state: str
    def __init__(self, document: _Optional[bytes] = ..., signatures: _Optional[_Mapping[str, str]] = ..., state: _Optional[str] = ...) -> None: ...

class RevokeAgreementRequest(_message.Message):
    __slots__ = ("agreement_id", "reason", "revocation_jws")
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_JWS_FIELD_NUMBER: _ClassVar[int]
    agreement_id: str
    reason: str
    revocation_jws: str
    def __init__(self, agreement_id: _Optional[str] = ..., reason: _Optional[str] = ..., revocation_jws: _Optional[str] = ...) -> None: ...

class GetDirectoryRequest(_message.Message):
    __slots__ = ("known_version",)
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    known_version: int
    def __init__(self, known_version: _Optional[int] = ...) -> None: ...

class SignedDirectory(_message.Message):
    __slots__ = ("jws", "version")
    JWS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    jws: str
    version: int
    def __init__(self, jws: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class AddCheckpointRequest(_message.Message):
    __slots__ = ("body",)
    BODY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    def __init__(self, body: _Optional[bytes] = ...) -> None: ...

class AddCheckpointResponse(_message.Message):
    __slots__ = ("cosignatures", "witness_key")
    COSIGNATURES_FIELD_NUMBER: _ClassVar[int]
    WITNESS_KEY_FIELD_NUMBER: _ClassVar[int]
    cosignatures: bytes
    witness_key: str
    def __init__(self, cosignatures: _Optional[bytes] = ..., witness_key: _Optional[str] = ...) -> None: ...

class ListCosignedRequest(_message.Message):
    __slots__ = ("origin", "min_size", "limit")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    origin: str
    min_size: int
    limit: int
    def __init__(self, origin: _Optional[str] = ..., min_size: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListCosignedResponse(_message.Message):
    __slots__ = ("checkpoints", "witness_key", "more")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    WITNESS_KEY_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedScalarFieldContainer[bytes]
    witness_key: str
    more: bool
    def __init__(self, checkpoints: _Optional[_Iterable[bytes]] = ..., witness_key: _Optional[str] = ..., more: _Optional[bool] = ...) -> None: ...

class ConsistencyProofRequest(_message.Message):
    __slots__ = ("old_size", "new_size")
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    old_size: int
    new_size: int
    def __init__(self, old_size: _Optional[int] = ..., new_size: _Optional[int] = ...) -> None: ...

class ConsistencyProofResponse(_message.Message):
    __slots__ = ("proof", "checkpoint")
    PROOF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: bytes
    def __init__(self, proof: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[bytes] = ...) -> None: ...
