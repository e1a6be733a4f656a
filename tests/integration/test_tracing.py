"""OpenTelemetry tracing through Temporal's interceptor: off by default, spans exported when enabled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from observability.tracing import reset_tracing, tracing_interceptors
from starter.settings import Settings
from starter.temporal_options import connect_options


@activity.defn(name="traced_echo")
async def traced_echo(text: str) -> str:
    return text.upper()


@workflow.defn(name="TracedWorkflow")
class TracedWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return str(await workflow.execute_activity(traced_echo, text, start_to_close_timeout=timedelta(seconds=10)))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    reset_tracing()
    spans = InMemorySpanExporter()
    yield spans
    reset_tracing()


def test_tracing_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROKERFLOW_OTEL_ENABLED", "BROKERFLOW_OTEL_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.otel_enabled is False
    assert tracing_interceptors(settings) == []
    assert connect_options(settings)["interceptors"] == []


def test_setting_turns_tracing_on(monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter) -> None:
    monkeypatch.setenv("BROKERFLOW_OTEL_ENABLED", "true")
    interceptors = connect_options(Settings(), serve_metrics=False)["interceptors"]
    assert [type(i) for i in interceptors] == [TracingInterceptor]


async def test_spans_exported_for_a_workflow_and_its_activity(
    temporal_env: WorkflowEnvironment, task_queue: str, exporter: InMemorySpanExporter
) -> None:
    interceptors = tracing_interceptors(Settings(otel_enabled=True), processor=SimpleSpanProcessor(exporter))
    client = await Client.connect(temporal_env.client.service_client.config.target_host, namespace="default",
                                  interceptors=interceptors)
    workflow_id = f"traced-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[TracedWorkflow], activities=[traced_echo]):
        result = await client.execute_workflow(TracedWorkflow.run, "ping", id=workflow_id, task_queue=task_queue)
    assert result == "PING"
    names = [span.name for span in exporter.get_finished_spans()]
    assert "StartWorkflow:TracedWorkflow" in names
    assert "RunWorkflow:TracedWorkflow" in names
    assert "RunActivity:traced_echo" in names
    run = next(s for s in exporter.get_finished_spans() if s.name == "RunWorkflow:TracedWorkflow")
    assert run.attributes is not None and run.attributes.get("temporalWorkflowID") == workflow_id
    assert run.resource.attributes.get("service.name") == "brokerflow"
