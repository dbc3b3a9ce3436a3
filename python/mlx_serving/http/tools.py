"""Tool choice, the same for both APIs: which tools the chat template shows,
and whether the output is free text (parsed for the family's tool calls)
or forced into a call by guidance, so that its arguments always parse and
match the function's schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ..api.messages import JsonSchemaGuidance
from .errors import HttpError
from .output import ToolCallOut, tool_call


@dataclass(frozen=True)
class Function:
    name: str
    description: str | None
    parameters: dict[str, Any]

    def template_dict(self) -> dict[str, Any]:
        """OpenAI's tool format, which HF chat templates read."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}


Choice = Literal["none", "auto", "required"] | tuple[Literal["function"], str]


@dataclass(frozen=True)
class ToolPlan:
    functions: list[Function]
    choice: Choice

    @property
    def template_tools(self) -> list[dict[str, Any]] | None:
        return [f.template_dict() for f in self.functions] or None

    @property
    def parses_output(self) -> bool:
        """Free text that may hold calls in the family's format (choice auto)."""
        return self.choice == "auto" and bool(self.functions)

    @property
    def forced(self) -> bool:
        return self.choice == "required" or isinstance(self.choice, tuple)

    @property
    def named(self) -> str | None:
        return self.choice[1] if isinstance(self.choice, tuple) else None

    def guidance(self) -> JsonSchemaGuidance | None:
        """The grammar a forced call is written in: the named function's
        arguments, or {name, arguments} of any offered function."""
        if isinstance(self.choice, tuple):
            return JsonSchemaGuidance(schema=self._function(self.choice[1]).parameters)
        if self.choice != "required":
            return None
        return JsonSchemaGuidance(schema={"anyOf": [{
            "type": "object",
            "properties": {"name": {"const": f.name}, "arguments": f.parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        } for f in self.functions]})

    def forced_call(self, text: str) -> ToolCallOut:
        """The call a forced (guided) output is."""
        if isinstance(self.choice, tuple):
            return tool_call(self.choice[1], text)
        call = json.loads(text)
        return tool_call(call["name"], call["arguments"])

    def _function(self, name: str) -> Function:
        for function in self.functions:
            if function.name == name:
                return function
        raise HttpError.bad_param("tool_choice", f"tool_choice names function {name!r}, which "
                                  "is not among the request's tools")


def plan(functions: list[Function], choice: Choice) -> ToolPlan:
    names = [f.name for f in functions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HttpError.bad_param("tools", f"tools name function {duplicates[0]!r} twice")
    if choice != "none" and choice != "auto" and not functions:
        raise HttpError.bad_param("tool_choice", "tool_choice asks for a tool call, but the "
                                  "request has no tools")
    result = ToolPlan(functions, choice)
    if isinstance(choice, tuple):
        result._function(choice[1])  # refuses an unknown name now
    return result


def object_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A function's parameters; none given: any object."""
    return schema if schema else {"type": "object"}
