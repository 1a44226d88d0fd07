// Writes a TensorFlow tensor bundle, PREFIX.index and PREFIX.data-00000-of-00001, from tensors.txt, as TensorFlow's
// BundleWriter does, with none of this repository's code: the index is a table written by LevelDB's own
// leveldb::TableBuilder (uncompressed, TensorFlow's table_format being LevelDB's), its values are protobuf messages
// serialized by the protobuf library (bundle.proto), and the tensors' checksums are LevelDB's CRC-32C.
//
// Build and run (Debian bookworm: apt-get install libleveldb-dev protobuf-compiler libprotobuf-dev g++):
//   protoc --cpp_out=/tmp/bundle bundle.proto
//   g++ -std=c++17 -O1 -I/tmp/bundle make_bundle.cc /tmp/bundle/bundle.pb.cc -o /tmp/bundle/make_bundle \
//       -l:libleveldb.a -l:libsnappy.so.1 -lprotobuf -lpthread
//   /tmp/bundle/make_bundle tensors.txt model.ckpt
//
// Small blocks (64 bytes) and a restart point every 3 keys make the index hold several data blocks with shared key
// prefixes, as a real checkpoint's index does.
#include <leveldb/env.h>
#include <leveldb/options.h>
#include <leveldb/table_builder.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bundle.pb.h"

// LevelDB's CRC-32C (util/crc32c.h), from the library itself: libleveldb.a defines it, the installed headers do not declare it.
namespace leveldb::crc32c {
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);
}

// The masking LevelDB's util/crc32c.h (and TensorFlow's crc32c.h) applies to stored checksums.
static uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static void Check(const leveldb::Status& status) {
  if (!status.ok()) {
    std::cerr << status.ToString() << std::endl;
    std::exit(1);
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_bundle TENSORS_TXT PREFIX" << std::endl;
    return 2;
  }
  std::ifstream input(argv[1]);
  std::string prefix = argv[2], line;
  std::string data;                                   // the data file: tensors in input order
  std::map<std::string, std::string> index;           // key -> serialized proto; the table needs key order
  while (std::getline(input, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, shape;
    fields >> name >> shape;                          // shape: [d0,d1,...]
    tensorflow::BundleEntryProto entry;
    entry.set_dtype(tensorflow::DT_FLOAT);
    std::istringstream dims(shape.substr(1, shape.size() - 2));
    for (std::string dim; std::getline(dims, dim, ',');)
      entry.mutable_shape()->add_dim()->set_size(std::stoll(dim));
    std::string bytes;
    for (float value; fields >> value;) bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
    entry.set_shard_id(0);
    entry.set_offset(static_cast<int64_t>(data.size()));
    entry.set_size(static_cast<int64_t>(bytes.size()));
    entry.set_crc32c(Mask(leveldb::crc32c::Extend(0, bytes.data(), bytes.size())));
    data += bytes;
    index[name] = entry.SerializeAsString();
  }

  tensorflow::BundleHeaderProto header;               // TensorFlow's BundleWriter: one shard, little-endian, version 1
  header.set_num_shards(1);
  header.set_endianness(tensorflow::BundleHeaderProto::LITTLE);
  header.mutable_version()->set_producer(1);
  index[""] = header.SerializeAsString();             // the empty key sorts first

  std::ofstream(prefix + ".data-00000-of-00001", std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));

  leveldb::Options options;
  options.compression = leveldb::kNoCompression;      // TensorFlow writes checkpoint indexes uncompressed
  options.block_size = 64;
  options.block_restart_interval = 3;
  leveldb::WritableFile* file = nullptr;
  Check(leveldb::Env::Default()->NewWritableFile(prefix + ".index", &file));
  leveldb::TableBuilder builder(options, file);
  for (const auto& [key, value] : index) builder.Add(key, value);
  Check(builder.Finish());
  Check(file->Close());
  delete file;
  std::cout << index.size() - 1 << " tensors, " << data.size() << " data bytes, " << builder.FileSize() << " index bytes, "
            << builder.NumEntries() << " entries" << std::endl;
  return 0;
}
