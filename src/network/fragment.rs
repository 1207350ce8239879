//! IP fragmentation and reassembly.
