"""HfApi at the network boundary, for the export tests: the Hub cannot be reached here."""

from pathlib import Path

FAKE_TOKEN = "hf_FAKEexportTOKEN0123456789abcdefXYZ"


class RecordingApi:
    """HfApi at the network boundary: records what would be sent."""

    calls: list = []

    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        files = sorted(
            str(p.relative_to(kwargs["folder_path"])) for p in Path(kwargs["folder_path"]).rglob("*") if p.is_file()
        )
        self.calls.append(("upload_folder", {**kwargs, "files": files}))


class UnreachableApi:
    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, repo_id, **kwargs):
        import httpx2

        raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")

    upload_folder = create_repo
