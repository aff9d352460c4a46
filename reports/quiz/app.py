"""The quiz's web server (Flask): one page, a JSON API for sessions and answers, and the images by token.

``GET /`` the page; ``POST /api/session`` starts a session and returns its first round; ``GET /image/TOKEN.png``
the image of a shown round; ``POST /api/answer`` with ``{session, token, answer, ms}`` records the answer and
returns the next round, or the score after the last one. Refused requests get a 4xx with a JSON ``error``.
Nothing is cached by the browser, so a reloaded page starts a new session rather than showing old rounds.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.serving import make_server

from benchmark.errors import DeepbenchError
from reports.quiz.session import Quiz, QuizRequestError


def create_app(quiz: Quiz) -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def page():
        return render_template("quiz.html", rounds=quiz.rounds)

    @app.post("/api/session")
    def start():
        return jsonify(quiz.start())

    @app.get("/image/<token>.png")
    def image(token: str):
        return Response(quiz.image(token), mimetype="image/png")

    @app.post("/api/answer")
    def answer():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise QuizRequestError(400, "send a JSON object {session, token, answer, ms}")
        return jsonify(quiz.answer(str(body.get("session")), str(body.get("token")), body.get("answer"),
                                   body.get("ms")))

    @app.errorhandler(QuizRequestError)
    def refused(error: QuizRequestError):
        return jsonify({"error": str(error)}), error.status

    @app.after_request
    def no_caching(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


def serve(quiz: Quiz, host: str = "127.0.0.1", port: int = 8765):
    """A threaded server for ``quiz`` on ``host:port`` (port 0 picks a free one); call ``serve_forever``."""
    try:
        return make_server(host, port, create_app(quiz), threaded=True)
    except (OSError, SystemExit):  # werkzeug exits, after a message of its own, when the port is taken
        raise DeepbenchError(f"cannot listen on {host}:{port}: the port is taken or the address is not this "
                             f"machine's; pass another --port or --host") from None
