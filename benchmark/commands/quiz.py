"""``deepbench quiz``: the "real or fake?" page."""

from __future__ import annotations

import click

from benchmark.commands.common import data_options, run_dir_option
from reports.quiz.app import serve as serve_quiz
from reports.quiz.session import Quiz


@click.command()
@run_dir_option("--run", "Run directory to quiz on.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port of the page (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines take the quiz.")
@click.option("--rounds", type=int, default=40, show_default=True,
              help="Images per session: half reals, half fakes shared by the generators.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the first session's order; each later session takes the next seed.")
@data_options
def quiz(run_dir, port, host, rounds, seed, data_root, download):
    """Serve a "real or fake?" page that measures how well people spot each generator's fakes."""
    questions = Quiz(run_dir, rounds, seed, data_root, download)
    server = serve_quiz(questions, host, port)
    click.echo(f"quiz on http://{host}:{server.server_port}/ (answers go to {questions.answers_file}); "
               f"Ctrl-C stops it")
    server.serve_forever()  # returns on Ctrl-C, with the socket closed
    click.echo(f"quiz stopped; answers are in {questions.answers_file}")
