"""HfApi at the network boundary, for the export tests: the Hub cannot be reached here."""

from pathlib import Path
from types import SimpleNamespace

FAKE_TOKEN = "hf_FAKEexportTOKEN0123456789abcdefXYZ"


class RecordingApi:
    """HfApi at the network boundary: records what would be sent, and keeps the repos it would
    change (`repos`: repo id -> {"private": bool, "files": set of paths}), so a test can seed an
    existing repo and read what the push left there. Deleting follows huggingface_hub's own
    matching (`filter_repo_objects`, `.gitattributes` always kept), as upload_folder does."""

    calls: list = []
    repos: dict = {}
    failing: tuple | None = None  # (HTTP status, the Hub's message): upload_folder's commit is refused

    def __init__(self, *args, **kwargs):
        pass

    @classmethod
    def reset(cls, repos: dict | None = None):
        """No calls yet; the Hub holding `repos` (repo id -> {"private", "files"}) and nothing else."""
        cls.calls = []
        cls.failing = None
        cls.repos = {k: {"private": v["private"], "files": set(v["files"])} for k, v in (repos or {}).items()}

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        if repo_id not in self.repos:
            self.repos[repo_id] = {"private": bool(kwargs.get("private")), "files": {".gitattributes"}}
        return f"https://huggingface.co/{repo_id}"

    def repo_info(self, repo_id, **kwargs):
        self.calls.append(("repo_info", {"repo_id": repo_id, **kwargs}))
        return SimpleNamespace(id=repo_id, private=self.repos[repo_id]["private"])

    def update_repo_settings(self, repo_id, **kwargs):
        self.calls.append(("update_repo_settings", {"repo_id": repo_id, **kwargs}))
        if kwargs.get("private") is not None:
            self.repos[repo_id]["private"] = kwargs["private"]

    def upload_folder(self, **kwargs):
        from huggingface_hub.utils import filter_repo_objects

        files = sorted(
            str(p.relative_to(kwargs["folder_path"])) for p in Path(kwargs["folder_path"]).rglob("*") if p.is_file()
        )
        self.calls.append(("upload_folder", {**kwargs, "files": files}))
        if self.failing is not None:  # one commit: refused, it changes nothing in the repo
            raise http_error(*self.failing)
        repo = self.repos.setdefault(kwargs["repo_id"], {"private": False, "files": {".gitattributes"}})
        patterns = kwargs.get("delete_patterns")
        deleted = set(filter_repo_objects(sorted(repo["files"]), allow_patterns=patterns)) if patterns else set()
        repo["files"] = (repo["files"] - (deleted - {".gitattributes"})) | set(files)


def http_error(status: int, server_message: str | None = None):
    """The HfHubHTTPError huggingface_hub raises for an answer of `status` (with the Hub's message)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    request = httpx2.Request("POST", "https://huggingface.co/api/repos/create")
    response = httpx2.Response(status, request=request)
    return HfHubHTTPError(f"{status} Error", response=response, server_message=server_message)


class UnreachableApi:
    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, repo_id, **kwargs):
        import httpx2

        raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")

    upload_folder = repo_info = update_repo_settings = create_repo


class RefusingApi:
    """The Hub answering `status` (401, 403) to create_repo: the token, or the namespace."""

    status = 403

    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, repo_id, **kwargs):
        raise http_error(self.status)

    upload_folder = repo_info = update_repo_settings = create_repo
