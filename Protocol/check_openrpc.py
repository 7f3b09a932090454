#!/usr/bin/env python3
"""Checks the wire-protocol contract: Protocol/openrpc.json, and the golden transcripts against it.

(a) The document: every method has params, a result and errors and takes its params by name, every
    $ref resolves inside the document, every schema is a valid JSON Schema (Draft 2020-12), every
    documented error has its details in x-error-details.
(b) Every Protocol/transcripts/*.jsonl: one JSON object per line, {"send": message or batch} or
    {"expect": response, batch of responses, or notification}. An expected result must match the
    result schema of the method of the request sent earlier with the same id (and that request's params
    must then match the params schema); an expected error code must be one that method documents, and
    error data must have the documented shape; a notification from the daemon must be one of
    x-server-notifications. The string "<any>" stands for any value (uptime, generated ids ...) at any
    position of an expected message.

usage: python3 Protocol/check_openrpc.py [--openrpc FILE] [--transcripts DIR]
Prints one line per problem on stderr and exits 1 if there is any, else prints a summary and exits 0.
Needs python3 and the jsonschema package (4.18 or later).
"""
import argparse
import glob
import json
import os
import sys
import urllib.parse

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PLACEHOLDER = "<any>"
DOCUMENT_URI = "urn:llmrec:openrpc"
HERE = os.path.dirname(os.path.abspath(__file__))


def _wildcard(keyword):
    def validate(validator, value, instance, schema):
        if isinstance(instance, str) and instance == PLACEHOLDER:
            return
        yield from keyword(validator, value, instance, schema)

    return validate


# Draft 2020-12 where "<any>" satisfies every keyword, wherever it stands (also inside anyOf, $ref ...).
PlaceholderValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={name: _wildcard(keyword) for name, keyword in jsonschema.Draft202012Validator.VALIDATORS.items()},
)
META_VALIDATOR = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)


def pointer(*tokens):
    return "".join("/" + str(token).replace("~", "~0").replace("/", "~1") for token in tokens)


def at(document, ptr):
    """The value at a JSON pointer, or None when nothing is there."""
    node = document
    for token in ptr.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def ref_target(ref):
    """The JSON pointer a local reference ("#/a/b") names, or None for any other reference."""
    if not ref.startswith("#"):
        return None
    ptr = urllib.parse.unquote(ref[1:])
    return ptr if ptr == "" or ptr.startswith("/") else None


def short(text, limit=240):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def id_key(value):
    """Requests pair with responses by id; 1 and "1" are different ids."""
    return (type(value).__name__, value)


def is_id(value):
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def is_request(message):
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and isinstance(message.get("method"), str)
        and is_id(message.get("id"))
        and isinstance(message.get("params", {}), (dict, list))
    )


class Contract:
    """openrpc.json, checked, with validators for what the transcripts need."""

    def __init__(self, document, label):
        self.document = document
        self.label = label
        self.problems = []
        self.registry = Registry().with_resource(
            DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        self.methods = {}  # name -> method pointer
        self.notifications = {}  # name -> pointer in x-server-notifications
        self.schema_pointers = []
        self.check()

    def problem(self, text):
        self.problems.append(f"{self.label}: {text}")

    def resolve(self, ptr):
        """Follows Reference Objects from ptr: (pointer, value), or (None, None) when one dangles."""
        value = at(self.document, ptr)
        seen = set()
        while isinstance(value, dict) and isinstance(value.get("$ref"), str) and ptr not in seen:
            seen.add(ptr)
            ptr = ref_target(value["$ref"])
            value = None if ptr is None else at(self.document, ptr)
        return (ptr, value) if value is not None and ptr not in seen else (None, None)

    def validator(self, schema_pointer):
        return PlaceholderValidator(
            {"$ref": DOCUMENT_URI + "#" + urllib.parse.quote(schema_pointer, safe="/~")}, registry=self.registry
        )

    def params_validator(self, owner_pointer):
        """A by-name params object against the owner's content descriptors."""
        properties, required = {}, []
        for index in range(len(at(self.document, owner_pointer + "/params") or [])):
            ptr, descriptor = self.resolve(f"{owner_pointer}/params/{index}")
            if ptr is None:
                continue
            properties[descriptor["name"]] = {"$ref": DOCUMENT_URI + "#" + urllib.parse.quote(ptr + "/schema", safe="/~")}
            if descriptor.get("required") is True:
                required.append(descriptor["name"])
        return PlaceholderValidator({"type": "object", "properties": properties, "required": required}, registry=self.registry)

    def error_codes(self, list_pointer):
        """code -> component name for a list of errors (Reference Objects into components/errors)."""
        codes = {}
        for index in range(len(at(self.document, list_pointer) or [])):
            ptr, error = self.resolve(f"{list_pointer}/{index}")
            if ptr is not None and isinstance(error, dict) and isinstance(error.get("code"), int):
                codes[error["code"]] = ptr.split("/")[-1]
        return codes

    def data_validator(self, error_name):
        details = at(self.document, pointer("x-error-details", error_name))
        if isinstance(details, dict) and "dataSchema" in details:
            return self.validator(pointer("x-error-details", error_name, "dataSchema"))
        return None

    # (a) the document

    def check(self):
        document = self.document
        if not isinstance(document, dict):
            self.problem("not a JSON object")
            return
        if not str(document.get("openrpc", "")).startswith("1.3"):
            self.problem(f"'openrpc' is {document.get('openrpc')!r}, expected a 1.3.x version")
        info = document.get("info")
        if not (isinstance(info, dict) and isinstance(info.get("title"), str) and isinstance(info.get("version"), str)):
            self.problem("'info' needs a string 'title' and 'version'")
        self.check_references(document, "")
        if not isinstance(document.get("methods"), list) or not document["methods"]:
            self.problem("'methods' must be a non-empty array")
        else:
            for index in range(len(document["methods"])):
                self.check_method(f"/methods/{index}")
        self.check_errors()
        for name in ("x-connection-errors", "x-unknown-method-errors"):
            self.check_error_list(pointer(name), name)
        notifications = document.get("x-server-notifications", [])
        if not isinstance(notifications, list):
            self.problem("'x-server-notifications' must be an array")
        else:
            for index, notification in enumerate(notifications):
                ptr = pointer("x-server-notifications", index)
                name = notification.get("name") if isinstance(notification, dict) else None
                if not isinstance(name, str) or name in self.notifications:
                    self.problem(f"x-server-notifications[{index}] needs a unique string 'name'")
                    continue
                self.notifications[name] = ptr
                self.check_params(ptr, f"x-server-notifications {name}")
        for name in (document.get("components") or {}).get("schemas") or {}:
            self.schema_pointers.append(pointer("components", "schemas", name))
        self.check_schemas()

    def check_references(self, node, ptr):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = ref_target(ref)
                if target is None:
                    self.problem(f"{ptr or '/'}: $ref {ref!r} is not a local JSON pointer (#/...)")
                elif at(self.document, target) is None:
                    self.problem(f"{ptr or '/'}: $ref {ref!r} resolves to nothing")
            for key, value in node.items():
                self.check_references(value, ptr + pointer(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self.check_references(value, ptr + pointer(index))

    def check_method(self, ptr):
        method = at(self.document, ptr)
        name = method.get("name") if isinstance(method, dict) else None
        if not isinstance(name, str) or not name:
            self.problem(f"{ptr}: a method needs a string 'name'")
            return
        if name in self.methods:
            self.problem(f"method {name}: listed twice")
            return
        self.methods[name] = ptr
        for field in ("params", "result", "errors"):
            if field not in method:
                self.problem(f"method {name}: no '{field}'")
        if method.get("paramStructure") != "by-name":
            self.problem(f"method {name}: paramStructure is {method.get('paramStructure')!r}, expected 'by-name'")
        self.check_params(ptr, f"method {name}")
        if "result" in method:
            result_ptr, result = self.resolve(ptr + "/result")
            if result_ptr is not None:
                self.check_descriptor(result_ptr, result, f"method {name}: result")
        if "errors" in method:
            self.check_error_list(ptr + "/errors", f"method {name}: errors")
            if method.get("x-notification") is True and method["errors"]:
                self.problem(f"method {name}: a notification is never answered, so it can document no errors")

    def check_params(self, ptr, owner):
        params = at(self.document, ptr + "/params")
        if not isinstance(params, list):
            self.problem(f"{owner}: 'params' must be an array")
            return
        names, optional_seen = set(), None
        for index in range(len(params)):
            param_ptr, param = self.resolve(f"{ptr}/params/{index}")
            if param_ptr is None or not self.check_descriptor(param_ptr, param, f"{owner}: params[{index}]"):
                continue
            if param["name"] in names:
                self.problem(f"{owner}: parameter {param['name']} listed twice")
            names.add(param["name"])
            if param.get("required") is True and optional_seen:
                self.problem(f"{owner}: required parameter {param['name']} follows optional {optional_seen}")
            elif param.get("required") is not True:
                optional_seen = param["name"]

    def check_descriptor(self, ptr, descriptor, what):
        if not (isinstance(descriptor, dict) and isinstance(descriptor.get("name"), str) and "schema" in descriptor):
            self.problem(f"{what}: a content descriptor needs a string 'name' and a 'schema'")
            return False
        if ptr + "/schema" not in self.schema_pointers:
            self.schema_pointers.append(ptr + "/schema")
        return True

    def check_error_list(self, ptr, what):
        errors = at(self.document, ptr)
        if not isinstance(errors, list):
            self.problem(f"{what}: must be an array of errors")
            return
        codes = set()
        for index in range(len(errors)):
            error_ptr, error = self.resolve(f"{ptr}/{index}")
            if error_ptr is None:
                continue
            if not error_ptr.startswith("/components/errors/"):
                self.problem(f"{what}[{index}]: refer to the shared table (#/components/errors/...)")
            elif isinstance(error, dict) and error.get("code") in codes:
                self.problem(f"{what}: code {error['code']} listed twice")
            elif isinstance(error, dict):
                codes.add(error.get("code"))

    def check_errors(self):
        errors = (self.document.get("components") or {}).get("errors")
        details = self.document.get("x-error-details")
        if not isinstance(errors, dict) or not errors:
            self.problem("components/errors must be a non-empty object")
            return
        if not isinstance(details, dict):
            self.problem("x-error-details must be an object keyed by the names in components/errors")
            details = {}
        codes = {}
        for name, error in errors.items():
            if not (isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(error.get("message"), str)):
                self.problem(f"components/errors/{name}: needs an integer 'code' and a string 'message'")
                continue
            if set(error) - {"code", "message", "data"}:
                self.problem(f"components/errors/{name}: an Error Object has only code, message and data")
            if error["code"] in codes:
                self.problem(f"components/errors/{name}: code {error['code']} is also {codes[error['code']]}")
            codes[error["code"]] = name
            entry = details.get(name)
            if not (isinstance(entry, dict) and isinstance(entry.get("when"), str)):
                self.problem(f"x-error-details/{name}: missing, or without a string 'when'")
                continue
            if "dataSchema" in entry:
                self.schema_pointers.append(pointer("x-error-details", name, "dataSchema"))
        for name in set(details) - set(errors):
            self.problem(f"x-error-details/{name}: no such error in components/errors")

    def check_schemas(self):
        for ptr in self.schema_pointers:
            schema = at(self.document, ptr)
            for error in sorted(META_VALIDATOR.iter_errors(schema), key=lambda e: list(e.path)):
                self.problem(f"{ptr}: not a valid Draft 2020-12 schema at {error.json_path}: {short(error.message)}")
        if self.problems:
            return
        for name, error in self.document["components"]["errors"].items():
            validator = self.data_validator(name)
            if "data" in error and validator is not None:
                for failure in validator.iter_errors(error["data"]):
                    self.problem(f"components/errors/{name}: example data does not match its dataSchema: {short(failure.message)}")


class TranscriptChecker:
    """Replays one transcript's expectations against the contract (no daemon involved)."""

    def __init__(self, contract, path):
        self.contract = contract
        self.path = os.path.relpath(path)
        self.problems = []
        self.sent = {}  # id key -> the message last sent with that id
        self.tokens = set()  # id keys of workDoneTokens sent so far
        self.expectations = 0

    def problem(self, where, text):
        self.problems.append(f"{where}: {text}")

    def run(self):
        with open(self.path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                where = f"{self.path}:{number}"
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError as error:
                    self.problem(where, f"not JSON: {error}")
                    continue
                if not (isinstance(entry, dict) and len(entry) == 1 and set(entry) <= {"send", "expect"}):
                    self.problem(where, 'a line is {"send": ...} or {"expect": ...}')
                elif "send" in entry:
                    for message in entry["send"] if isinstance(entry["send"], list) else [entry["send"]]:
                        self.record(message)
                elif isinstance(entry["expect"], list):
                    if not entry["expect"]:
                        self.problem(where, "an empty expected batch: a batch of notifications is answered with nothing")
                    for index, message in enumerate(entry["expect"]):
                        self.check_incoming(message, f"{where} [{index}]")
                else:
                    self.check_incoming(entry["expect"], where)
        return self.problems

    def record(self, message):
        if not isinstance(message, dict) or not is_id(message.get("id")):
            return
        self.sent[id_key(message["id"])] = message
        params = message.get("params")
        if isinstance(params, dict) and is_id(params.get("workDoneToken")):
            self.tokens.add(id_key(params["workDoneToken"]))

    def check_incoming(self, message, where):
        self.expectations += 1
        if not isinstance(message, dict):
            self.problem(where, "an expected message must be a JSON object")
        elif message.get("jsonrpc") not in ("2.0", PLACEHOLDER):
            self.problem(where, f"'jsonrpc' is {message.get('jsonrpc')!r}, expected \"2.0\"")
        elif "method" in message and "id" not in message:
            self.check_notification(message, where)
        elif "id" in message and "method" not in message:
            self.check_response(message, where)
        else:
            self.problem(where, "neither a response (id, result or error) nor a notification (method, no id)")

    def check_notification(self, message, where):
        name = message["method"]
        ptr = self.contract.notifications.get(name)
        if ptr is None:
            known = ", ".join(sorted(self.contract.notifications)) or "none"
            self.problem(where, f"the daemon sends no notification {name!r} (x-server-notifications: {known})")
            return
        params = message.get("params", {})
        self.validate(self.contract.params_validator(ptr), params, where, f"{name} params")
        token = params.get("token") if isinstance(params, dict) else None
        if name == "$/progress" and is_id(token) and token != PLACEHOLDER and id_key(token) not in self.tokens:
            self.problem(where, f"$/progress for token {token!r}, which no earlier request sent as its workDoneToken")

    def check_response(self, message, where):
        if set(message) - {"jsonrpc", "id", "result", "error"}:
            self.problem(where, f"a response has only jsonrpc, id and result or error; found {sorted(message)}")
            return
        if ("result" in message) == ("error" in message):
            self.problem(where, "a response carries exactly one of 'result' and 'error'")
            return
        identifier = message["id"]
        if identifier == PLACEHOLDER or not (identifier is None or is_id(identifier)):
            self.problem(where, f"id {identifier!r} cannot be paired with a request: write the id that was sent")
            return
        request = None if identifier is None else self.sent.get(id_key(identifier))
        if identifier is not None and request is None:
            self.problem(where, f"answers id {identifier!r}, which no earlier send used")
            return
        method = request.get("method") if is_request(request) else None
        if method in self.contract.methods:
            subject = f"{method} (id {identifier!r})"
            ptr = self.contract.methods[method]
            codes = self.contract.error_codes(ptr + "/errors")
        elif method is not None:
            subject = f"unknown method {method!r} (id {identifier!r})"
            codes = self.contract.error_codes(pointer("x-unknown-method-errors"))
        else:
            subject = "a message that is not a valid request" if identifier is not None else "id null"
            codes = self.contract.error_codes(pointer("x-connection-errors"))
        if "result" in message:
            self.check_result(message["result"], request, method, subject, where)
        else:
            self.check_error(message["error"], codes, subject, where)

    def check_result(self, result, request, method, subject, where):
        if method not in self.contract.methods:
            self.problem(where, f"a result for {subject}: that is only ever answered with an error")
            return
        ptr = self.contract.methods[method]
        if at(self.contract.document, ptr + "/x-notification") is True:
            self.problem(where, f"{subject}: {method} is a notification, which the daemon never answers")
            return
        result_ptr, _ = self.contract.resolve(ptr + "/result")
        self.validate(self.contract.validator(result_ptr + "/schema"), result, where, f"{subject} result")
        params = request.get("params", {})
        if isinstance(params, list):
            self.problem(where, f"{subject} succeeded with params by position, but the method takes them by name")
        else:
            self.validate(self.contract.params_validator(ptr), params, where, f"{subject} succeeded, but its params")

    def check_error(self, error, codes, subject, where):
        if error == PLACEHOLDER:
            return
        if not isinstance(error, dict) or set(error) - {"code", "message", "data"}:
            self.problem(where, f"{subject}: an error object has code, message and optionally data")
            return
        code, message = error.get("code"), error.get("message")
        if not isinstance(message, str):
            self.problem(where, f"{subject}: the error needs a string 'message'")
        if code == PLACEHOLDER:
            return
        if code not in codes:
            documented = ", ".join(f"{c} {n}" for c, n in sorted(codes.items())) or "none"
            self.problem(where, f"{subject}: error code {code!r} is not documented for it (documented: {documented})")
            return
        validator = self.contract.data_validator(codes[code])
        if validator is None:
            return
        if "data" not in error:
            self.problem(where, f"{subject}: error {code} {codes[code]} must carry data (x-error-details/{codes[code]}/dataSchema)")
        else:
            self.validate(validator, error["data"], where, f"{subject} error {code} data")

    def validate(self, validator, instance, where, subject):
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
            self.problem(where, f"{subject} at {error.json_path}: {short(error.message)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--openrpc", default=os.path.join(HERE, "openrpc.json"), help="the OpenRPC document")
    parser.add_argument("--transcripts", default=os.path.join(HERE, "transcripts"), help="folder of *.jsonl transcripts")
    arguments = parser.parse_args()

    label = os.path.relpath(arguments.openrpc)
    try:
        with open(arguments.openrpc, encoding="utf-8") as file:
            document = json.load(file)
    except (OSError, ValueError) as error:
        print(f"{label}: cannot read: {error}", file=sys.stderr)
        return 1
    contract = Contract(document, label)
    if contract.problems:
        for problem in contract.problems:
            print(problem, file=sys.stderr)
        print(f"{len(contract.problems)} problem(s) in {label}; transcripts not checked", file=sys.stderr)
        return 1
    print(f"{label}: {len(contract.methods)} methods, {len(contract.schema_pointers)} schemas: OK")

    paths = sorted(glob.glob(os.path.join(arguments.transcripts, "*.jsonl")))
    if not paths:
        print(f"{os.path.relpath(arguments.transcripts)}: no transcripts yet, nothing replayed")
        return 0
    problems, expectations = [], 0
    for path in paths:
        checker = TranscriptChecker(contract, path)
        problems += checker.run()
        expectations += checker.expectations
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {len(paths)} transcript(s)", file=sys.stderr)
        return 1
    print(f"{len(paths)} transcript(s), {expectations} expected message(s): OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
