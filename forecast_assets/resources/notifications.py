"""Run notifications through one configurable channel: log (default), SMTP e-mail, or a webhook
(Slack-compatible JSON: {"text": ...})."""

import json
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Literal

import dagster as dg

from forecast_assets.settings import Settings


class Notifier(dg.ConfigurableResource):
    """Sends a subject and a body through the configured channel."""

    channel: Literal["log", "smtp", "webhook"] = "log"
    webserver_url: str = "http://127.0.0.1:3000"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = "forecast-assets@localhost"
    mail_to: str = "ml-team@localhost"
    webhook_url: str = ""

    def run_url(self, run_id: str) -> str:
        return f"{self.webserver_url.rstrip('/')}/runs/{run_id}"

    def send(self, subject: str, body: str, log) -> None:
        log.info(f"notification ({self.channel}): {subject}\n{body}")
        if self.channel == "smtp":
            message = EmailMessage()
            message["Subject"], message["From"], message["To"] = subject, self.mail_from, self.mail_to
            message.set_content(body)
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=30) as smtp:
                if self.smtp_user:
                    smtp.starttls()
                    smtp.login(self.smtp_user, self.smtp_password)
                smtp.send_message(message)
        elif self.channel == "webhook":
            request = urllib.request.Request(
                self.webhook_url,
                data=json.dumps({"text": f"*{subject}*\n{body}"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status >= 300:
                    raise RuntimeError(f"webhook answered {response.status}")


def notifier_resource(settings: Settings) -> Notifier:
    """The channel of FORECAST_NOTIFY: log (default), smtp or webhook; secrets read through dg.EnvVar."""
    config: dict = {"channel": settings.notify, "webserver_url": settings.webserver_url}
    if settings.notify == "smtp":
        config.update(
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_user=settings.smtp_user,
            smtp_password=dg.EnvVar("FORECAST_SMTP_PASSWORD") if settings.smtp_password else "",
            mail_from=settings.mail_from,
            mail_to=settings.mail_to,
        )
    elif settings.notify == "webhook":
        config["webhook_url"] = dg.EnvVar("FORECAST_WEBHOOK_URL")
    return Notifier(**config)
