"""Everything a portal holds, as one value that can be cloned (for snapshots and resets)."""

from __future__ import annotations

from dataclasses import dataclass

from hubspot_sandbox.associations import AssociationGraph
from hubspot_sandbox.catalog import OBJECT_TYPES, ObjectType
from hubspot_sandbox.flows import FlowStore
from hubspot_sandbox.history import PropertyHistory
from hubspot_sandbox.pipelines import DEFAULT_DEAL_PIPELINE, Pipeline
from hubspot_sandbox.records import RecordStore
from hubspot_sandbox.search_index import SearchIndex
from hubspot_sandbox.stages import StageList
from hubspot_sandbox.validation_rules import StageRule
from hubspot_sandbox.workflows import WorkflowQueue


@dataclass(slots=True)
class PortalState:
    stores: dict[str, RecordStore]
    indexes: dict[str, SearchIndex]
    history: dict[str, PropertyHistory]
    graph: AssociationGraph
    lifecycle: dict[str, StageList]  # per type with a lifecyclestage; contacts and companies share one by default
    pipelines: dict[str, Pipeline]  # deal pipelines by id, in display order
    flows: FlowStore
    workflows: WorkflowQueue
    validation_rules: tuple[StageRule, ...] = ()  # admin-configured, checked on API writes

    @classmethod
    def empty(cls) -> PortalState:
        stages = StageList.default()
        return cls(
            stores={name: RecordStore(t.first_id) for name, t in OBJECT_TYPES.items()},
            indexes={name: SearchIndex(t.indexed_properties) for name, t in OBJECT_TYPES.items()},
            history={name: PropertyHistory() for name in OBJECT_TYPES},
            graph=AssociationGraph({name: t.first_id for name, t in OBJECT_TYPES.items()}),
            lifecycle={name: stages for name, t in OBJECT_TYPES.items() if t.has_lifecycle},
            pipelines={DEFAULT_DEAL_PIPELINE.id: DEFAULT_DEAL_PIPELINE},
            flows=FlowStore(),
            workflows=WorkflowQueue(),
        )

    def clone(self) -> PortalState:
        return PortalState(
            stores={name: store.clone() for name, store in self.stores.items()},
            indexes={name: index.clone() for name, index in self.indexes.items()},
            history={name: history.clone() for name, history in self.history.items()},
            graph=self.graph.clone(),
            lifecycle=dict(self.lifecycle),  # StageList and Pipeline are immutable
            pipelines=dict(self.pipelines),
            flows=self.flows.clone(),
            workflows=self.workflows.clone(),
            validation_rules=self.validation_rules,  # immutable
        )

    def store(self, object_type: ObjectType) -> RecordStore:
        return self.stores[object_type.name]

    def index(self, object_type: ObjectType) -> SearchIndex:
        return self.indexes[object_type.name]
